import { failureFieldsOf, toSignedCallError } from "../cloud/signed-client";
import type { HssApiClient, Vulnerability } from "../hss/apis";
import type { CallBudget } from "../hss/call-budget";
import type { Ignores } from "../images/ignore-file";
import type { Logger } from "../log";
import type { Finding } from "../notify/notifier";
import type { WatchStore } from "../queue/scan-queue";

/**
 * What a finished scan found that was not seen before in the same digest. Per digest the function
 * keeps (beside the queue, for RESCAN_WITHIN_DAYS) the vulnerability ids it has reported and those
 * the exceptions file accepts. A push's scan sets that baseline (its findings are alerted whole, as
 * ever); a rescan's ids are compared with it and only the new ones are alerted. An image HSS rates
 * clean needs no call; one whose count of vulnerabilities did not change and none of whose
 * exceptions ran out is taken as unchanged (no call either); otherwise its list is read
 * (ListImageVulnerabilities, within that API's budget; without a slot the result is looked at
 * again later). An accepted id is not reported; once its exception ends it is new, and alerted.
 */

export interface SeenState {
  vul_num: number;
  /** Reported (or known at the baseline), not accepted. */
  ids: string[];
  /** Accepted by the exceptions file when last seen. */
  excepted: string[];
  /** The package of each accepted id (an entry may accept one package only). */
  packages?: Record<string, string>;
  scanned_at?: number;
}

export type Verdict =
  | { kind: "baseline" }
  | { kind: "nothing_new"; gone: string[] }
  | { kind: "new"; vulnerabilities: Vulnerability[]; gone: string[] }
  /** The list could not be read now (budget, an error): look again in `retryAfterMs`. */
  | { kind: "later"; retryAfterMs: number };

/** An image seen carrying a finding the exceptions file accepts, and the finding's package. */
export type Carrier = Pick<
  Finding,
  "image" | "image_type" | "namespace" | "image_name" | "image_version" | "instance_id" | "digest"
> & { package?: string; repair_necessity?: string };

export const exceptedKey = (vulId: string) => `excepted:${vulId}`;

export function parseCarriers(text: string | undefined): Carrier[] {
  if (!text) return [];
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) ? (value as Carrier[]) : [];
  } catch {
    return [];
  }
}

const stateKey = (finding: Finding) =>
  `seen:${finding.image_type}:${finding.instance_id ?? ""}:${finding.digest ?? `${finding.namespace}/${finding.image_name}:${finding.image_version}`}`;

export class NewFindings {
  constructor(
    private readonly options: {
      store: Pick<WatchStore, "keep" | "kept">;
      ignores: Ignores;
      /** How long a digest's state is kept (RESCAN_WITHIN_DAYS). */
      ttlMs: number;
      budget: CallBudget;
      hss: () => Promise<HssApiClient>;
      log: Logger;
      /** RESCAN_REPORT_FIXED: what a rescan no longer finds is alerted as fixed. */
      reportFixed?: boolean;
    },
  ) {}

  get reportFixed(): boolean {
    return this.options.reportFixed === true;
  }

  async judge(finding: Finding, rescan: boolean): Promise<Verdict> {
    const { store } = this.options;
    const key = stateKey(finding);
    const state = parseState(await store.kept(key));
    const image = `${finding.namespace}/${finding.image_name}:${finding.image_version}`;
    const unchanged =
      state !== undefined &&
      state.vul_num === finding.vul_num &&
      state.excepted.every((id) => this.accepted(id, image, state.packages?.[id]));
    if (finding.vul_num === 0 || unchanged) {
      if (!state) await this.save(key, { vul_num: 0, ids: [], excepted: [] }, finding);
      return state
        ? { kind: "nothing_new", gone: finding.vul_num === 0 ? state.ids : [] }
        : { kind: "baseline" };
    }
    // HSS listed the image without its id: its list cannot be read; taken as unchanged.
    if (!finding.image_id) return state ? { kind: "nothing_new", gone: [] } : { kind: "baseline" };
    const current = await this.read({ ...finding, image_id: finding.image_id });
    if ("retryAfterMs" in current) return { kind: "later", retryAfterMs: current.retryAfterMs };
    const excepted = current.filter((vul) =>
      this.accepted(vul.vul_id, image, vul.app_name ?? undefined),
    );
    const reported = current.filter((vul) => !excepted.includes(vul));
    const next: SeenState = {
      vul_num: finding.vul_num,
      ids: reported.map((vul) => vul.vul_id),
      excepted: excepted.map((vul) => vul.vul_id),
      packages: Object.fromEntries(
        excepted.flatMap((vul) => (vul.app_name ? [[vul.vul_id, vul.app_name]] : [])),
      ),
    };
    await this.save(key, next, finding);
    await this.indexExcepted(excepted, finding);
    if (!state || !rescan) return { kind: "baseline" };
    const known = new Set(state.ids);
    const fresh = reported.filter((vul) => !known.has(vul.vul_id));
    const all = new Set(current.map((vul) => vul.vul_id));
    const gone = state.ids.filter((id) => !all.has(id));
    return fresh.length > 0
      ? { kind: "new", vulnerabilities: fresh, gone }
      : { kind: "nothing_new", gone };
  }

  /**
   * Which images carry each accepted finding (at most 20 an id, kept as long as states are): the
   * images an exception's end is announced for (exceptions.ts).
   */
  private async indexExcepted(excepted: readonly Vulnerability[], finding: Finding) {
    const { store, ttlMs } = this.options;
    for (const vul of excepted) {
      const key = exceptedKey(vul.vul_id);
      const carriers = parseCarriers(await store.kept(key));
      const { image, image_type, namespace, image_name, image_version } = finding;
      const carrier: Carrier = {
        ...{ image, image_type, namespace, image_name, image_version },
        ...(finding.instance_id ? { instance_id: finding.instance_id } : {}),
        ...(finding.digest ? { digest: finding.digest } : {}),
        ...(vul.app_name ? { package: vul.app_name } : {}),
        ...(vul.repair_necessity ? { repair_necessity: vul.repair_necessity } : {}),
      };
      const others = carriers.filter((known) => known.image !== carrier.image);
      await store.keep(key, JSON.stringify([carrier, ...others].slice(0, 20)), ttlMs);
    }
  }

  private accepted(id: string, image: string, pkg: string | undefined): boolean {
    const entry = this.options.ignores.find(id, image, pkg);
    // An entry for one package cannot be judged without the package: counted as not accepted.
    return entry !== undefined;
  }

  private async save(key: string, state: SeenState, finding: Finding) {
    const value: SeenState = {
      ...state,
      ...(finding.latest_scan_time ? { scanned_at: finding.latest_scan_time } : {}),
    };
    await this.options.store.keep(key, JSON.stringify(value), this.options.ttlMs);
  }

  /** The image's vulnerabilities (up to 5 pages of 200), or when to try again. */
  private async read(
    finding: Finding & { image_id: string },
  ): Promise<Vulnerability[] | { retryAfterMs: number }> {
    const { budget, log } = this.options;
    const found: Vulnerability[] = [];
    for (let page = 0; page < 5; page++) {
      const slot = await budget.take("list-vulnerabilities");
      if (!slot.granted) return { retryAfterMs: slot.retryAfterMs };
      try {
        const answer = await (await this.options.hss()).listImageVulnerabilities(finding.image_id, {
          image_type: finding.image_type,
          namespace: finding.namespace,
          image_name: finding.image_name,
          tag_name: finding.image_version,
          ...(finding.instance_id ? { instance_id: finding.instance_id } : {}),
          offset: page * 200,
          limit: 200,
        });
        found.push(...answer.data_list);
        if (answer.received < 200) return found;
      } catch (error) {
        log.warn("rescan_details_unread", {
          image: finding.image,
          ...failureFieldsOf(toSignedCallError(error)),
        });
        return { retryAfterMs: budget.windowMs };
      }
    }
    return found;
  }
}

function parseState(text: string | undefined): SeenState | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as Partial<SeenState>;
    return Array.isArray(value.ids) && typeof value.vul_num === "number"
      ? {
          vul_num: value.vul_num,
          ids: value.ids,
          excepted: value.excepted ?? [],
          ...(value.packages ? { packages: value.packages } : {}),
        }
      : undefined;
  } catch {
    return undefined;
  }
}
