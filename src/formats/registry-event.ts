import type { ManualScanRequest } from "./manual-scan-request";

/** One artifact that a registry reports as pushed, in the registry's own terms. */
export interface PushedImage {
  /** The repository's namespace (Harbor project, SWR organisation). */
  namespace: string;
  /** The full repository name, which starts with the namespace and may contain more `/`. */
  repository: string;
  tag?: string;
  digest?: string;
  /** The pull reference, e.g. `registry.example.com/team/api:1.0`. */
  resourceUrl?: string;
}

/** An event of a batch that is not a push, and why it was passed over. */
export interface IgnoredEvent {
  eventType: string;
  reason: string;
}

/** What a payload turned out to be once a format recognised it. */
export type RegistryEvent =
  | {
      kind: "push";
      format: string;
      eventType: string;
      images: PushedImage[];
      /** Events of a batch that were not pushes. */
      ignored?: IgnoredEvent[];
    }
  | { kind: "ignored"; format: string; eventType: string; reason?: string }
  | { kind: "scan-request"; format: string; eventType: string; request: ManualScanRequest };

/**
 * A payload format the function understands. Adding a format means adding one module that
 * implements this and registering it in `formats/index.ts`.
 */
export interface RegistryFormat {
  name: string;
  /** Cheap structural check: is this payload meant to be in this format? */
  recognises(payload: Record<string, unknown>): boolean;
  /** Full validation; throws a 422 error naming the problem when the payload is malformed. */
  parse(payload: Record<string, unknown>): RegistryEvent;
}
