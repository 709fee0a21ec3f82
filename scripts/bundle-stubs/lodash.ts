/**
 * The one lodash function the bundled SDK core runs (AKSKSigner sorts signed header names with
 * `_.sortBy`), instead of all of lodash. Stable, ascending, by the iteratee's value, as lodash does.
 */
export function sortBy<T>(items: readonly T[], iteratee: (item: T) => string | number): T[] {
  return items
    .map((item, index) => ({ item, index, key: iteratee(item) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.index - b.index))
    .map((entry) => entry.item);
}
