/**
 * The one use of moment in the bundled SDK core: AKSKSigner formats the signing time as
 * `moment(date?).utcOffset(0).format("YYYYMMDDTHHmmss")`. This covers exactly that and refuses
 * any other format, instead of carrying all of moment.
 */
const SIGNING_FORMAT = "YYYYMMDDTHHmmss";

const pad = (value: number, width = 2) => String(value).padStart(width, "0");

export default function moment(input?: string | number | Date) {
  const date = input === undefined ? new Date() : new Date(input);
  const formatted = {
    utcOffset: (_offset: number) => formatted,
    format(pattern: string): string {
      if (pattern !== SIGNING_FORMAT) throw new Error(`moment stand-in cannot format "${pattern}"`);
      return (
        `${pad(date.getUTCFullYear(), 4)}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}` +
        `T${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}`
      );
    },
  };
  return formatted;
}
