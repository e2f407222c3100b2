// Helm release names for the canary: `<release>-<slug of version>`. Pure.

/** Helm's limit on release names (they end up in resource names and labels). */
export const MAX_RELEASE_NAME = 53;

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Valid Helm release name as this action uses it: DNS-1123 label chars, at most 53 characters. */
export function isValidReleaseName(name: string): boolean {
  return name.length <= MAX_RELEASE_NAME && NAME.test(name);
}

/**
 * Version -> release-name slug: lowercased, every run of characters outside [a-z0-9] becomes one
 * '-', leading/trailing '-' removed, then cut to maxLength without a trailing '-'.
 * "v1.2.3" -> "v1-2-3", "Feature/ABC_1" -> "feature-abc-1". May return '' (e.g. for "...").
 */
export function slugVersion(version: string, maxLength: number = MAX_RELEASE_NAME): string {
  const slug = version
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return slug.slice(0, Math.max(0, maxLength)).replace(/-+$/, '');
}

/**
 * `<release>-<slug>`, the slug truncated so the whole name is at most 53 characters.
 * Throws Error(problem) if the release is not a valid name with room for a slug, or the slug is empty.
 */
export function canaryReleaseName(release: string, version: string): string {
  if (!NAME.test(release)) throw new Error('is not a valid release name');
  const room = MAX_RELEASE_NAME - release.length - 1;
  if (room < 1)
    throw new Error(
      `is ${release.length} characters, leaving no room for "-<version>" within ${MAX_RELEASE_NAME}`,
    );
  const slug = slugVersion(version, room);
  if (slug === '') throw new Error('has no letters or digits to build a release name from');
  return `${release}-${slug}`;
}
