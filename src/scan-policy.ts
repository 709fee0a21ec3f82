import * as z from "zod/mini";
import { lazySchema } from "./zod-setup";

/**
 * Which pushed images are scanned: include and exclude rules on namespace, repository and tag,
 * as glob patterns with the syntax SWR Enterprise Edition uses for its trigger scope (`*` within
 * one path segment, `**` across segments, `?` one character, `{a,b}` alternatives). An image is
 * scanned when, for each of the three, there is no include rule or one matches, and no exclude
 * rule matches: exclusion wins. Signature, attestation and SBOM artifacts are skipped by default.
 * Every skip names the rule that decided it.
 */

export const DIMENSIONS = ["namespaces", "repositories", "tags"] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** What a pattern is matched against, per dimension. */
export interface PolicySubject {
  namespace: string;
  /** The repository name within its namespace (HSS's image_name), e.g. `backend/api`. */
  repository: string;
  tag: string;
}

export interface PolicySkip {
  /** Stable id of the rule: `exclude.tags`, `include.repositories`, `signature-artifact`. */
  rule: string;
  reason: string;
}

export interface ScanPolicy {
  check(subject: PolicySubject): PolicySkip | undefined;
}

/**
 * picomatch, loaded on first use: most deployments have no patterns, and the module is a sixth
 * of the bundle, paid on every cold start if loaded up front.
 */
export function loadGlobMatcher(): typeof import("picomatch") {
  return require("picomatch");
}

/** cosign-style tags of signatures, attestations and SBOMs attached to `sha256:<digest>`. */
const SIGNATURE_TAG = /^sha256-[0-9a-f]{64}\.(sig|att|sbom)$/i;

/**
 * Why a glob pattern cannot be what its author meant, or undefined. Unbalanced braces or brackets
 * compile into patterns that match nothing, so a typo would silently scan nothing.
 */
export function patternProblem(pattern: string): string | undefined {
  const open: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const character = pattern[i];
    if (character === "\\") {
      i += 1;
      continue;
    }
    if (character === "{" || character === "[") open.push(character);
    if (character === "}" || character === "]") {
      const expected = character === "}" ? "{" : "[";
      if (open.pop() !== expected) return `pattern "${pattern}" has an unmatched "${character}"`;
    }
  }
  const unclosed = open.pop();
  return unclosed ? `pattern "${pattern}" has an unclosed "${unclosed}"` : undefined;
}

function policySchemaOf() {
  const patternList = z.array(
    z.string().check(
      z.trim(),
      z.minLength(1),
      z.maxLength(256),
      z.superRefine((pattern, ctx) => {
        const problem = patternProblem(pattern);
        if (problem) ctx.addIssue({ code: "custom", input: pattern, message: problem });
      }),
    ),
  );
  const ruleSet = z.strictObject({
    namespaces: z.optional(patternList),
    repositories: z.optional(patternList),
    tags: z.optional(patternList),
  });
  return z.strictObject({
    include: z.optional(ruleSet),
    exclude: z.optional(ruleSet),
    skipSignatures: z.optional(z.boolean()),
  });
}

/**
 * The JSON form of a policy (SCAN_POLICY), also what the SCAN_* variables are turned into: built
 * on first use, as most deployments never set one.
 */
export const policySchema = lazySchema(policySchemaOf);
export type PolicyDefinition = z.infer<ReturnType<typeof policySchemaOf>>;

const SUBJECT_FIELD: Record<Dimension, keyof PolicySubject> = {
  namespaces: "namespace",
  repositories: "repository",
  tags: "tag",
};

interface CompiledRule {
  pattern: string;
  matches: (value: string) => boolean;
}

/**
 * Compiles a policy once. `nameOf` says how a rule is named in reasons: the SCAN_* variable, or
 * the path inside SCAN_POLICY.
 */
export function compilePolicy(
  definition: PolicyDefinition,
  nameOf: (kind: "include" | "exclude", dimension: Dimension) => string,
): ScanPolicy {
  const compile = (patterns: readonly string[] = []): CompiledRule[] =>
    patterns.map((pattern) => ({ pattern, matches: loadGlobMatcher()(pattern, { dot: true }) }));
  const rules = DIMENSIONS.map((dimension) => ({
    dimension,
    include: compile(definition.include?.[dimension]),
    exclude: compile(definition.exclude?.[dimension]),
  }));
  const skipSignatures = definition.skipSignatures ?? true;

  return {
    check(subject) {
      if (skipSignatures && SIGNATURE_TAG.test(subject.tag)) {
        return {
          rule: "signature-artifact",
          reason: `tag ${subject.tag.slice(0, 20)}… is a signature, attestation or SBOM artifact, not an image to scan (SCAN_SKIP_SIGNATURES)`,
        };
      }
      for (const { dimension, exclude } of rules) {
        const value = subject[SUBJECT_FIELD[dimension]];
        const hit = exclude.find((rule) => rule.matches(value));
        if (hit) {
          return {
            rule: `exclude.${dimension}`,
            reason: `${SUBJECT_FIELD[dimension]} "${value.slice(0, 100)}" is excluded by ${nameOf("exclude", dimension)} pattern "${hit.pattern}"`,
          };
        }
      }
      for (const { dimension, include } of rules) {
        const value = subject[SUBJECT_FIELD[dimension]];
        if (include.length > 0 && !include.some((rule) => rule.matches(value))) {
          return {
            rule: `include.${dimension}`,
            reason: `${SUBJECT_FIELD[dimension]} "${value.slice(0, 100)}" matches none of ${nameOf("include", dimension)} (${include.map((rule) => rule.pattern).join(", ")})`,
          };
        }
      }
      return undefined;
    },
  };
}

/**
 * Splits a list of patterns written in one variable: separated by commas (or new lines) outside
 * braces, so that `{a,b}` stays one pattern; a JSON array is accepted too.
 */
export function splitPatterns(raw: string): string[] {
  const text = raw.trim();
  const asJson = jsonArrayOfStrings(text);
  const patterns = (asJson ?? splitOutsideBraces(text))
    .map((pattern) => pattern.trim())
    .filter((pattern) => pattern.length > 0);
  for (const pattern of patterns) {
    const problem = patternProblem(pattern);
    if (problem) throw new Error(problem);
  }
  return patterns;
}

/** The list when the text is a JSON array; a pattern such as `[0-9]*` is not JSON at all. */
function jsonArrayOfStrings(text: string): string[] | undefined {
  if (!text.startsWith("[")) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  if (!parsed.every((item) => typeof item === "string")) {
    throw new Error("must be a JSON array of strings");
  }
  return parsed;
}

function splitOutsideBraces(text: string): string[] {
  const patterns: string[] = [];
  let depth = 0;
  let current = "";
  for (const character of text) {
    if (character === "{") depth += 1;
    if (character === "}") depth = Math.max(0, depth - 1);
    if ((character === "," || character === "\n") && depth === 0) {
      patterns.push(current);
      current = "";
      continue;
    }
    current += character;
  }
  patterns.push(current);
  return patterns;
}
