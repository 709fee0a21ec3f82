import { httpError } from "../errors";

/** What is wrong, where: a zod issue, or one a format found by hand. */
export interface PayloadIssue {
  path: ReadonlyArray<PropertyKey>;
  message: string;
}

/** The payload was recognised but does not have the shape its format requires (422). */
export function invalidPayload(format: string, error: { issues: readonly PayloadIssue[] }) {
  const problems = error.issues.slice(0, 5).map((issue) => {
    const where = issue.path.length > 0 ? issue.path.map(String).join(".") : "(payload)";
    return `${where}: ${issue.message}`;
  });
  const more = error.issues.length > 5 ? ` (and ${error.issues.length - 5} more)` : "";
  return httpError(422, `invalid ${format} payload: ${problems.join("; ")}${more}`);
}
