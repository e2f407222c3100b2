// helm flags whose values may be secret. Shared by input parsing (what to mask and never echo) and
// the helm command line shown in the log (what to hide). Pure.

/** Flags whose value is a list of `key=value` items (helm splits them on unescaped commas). */
export const HELM_SET_FLAGS: ReadonlySet<string> = new Set([
  '--set',
  '--set-string',
  '--set-file',
  '--set-json',
  '--set-literal',
]);

/** Flags whose whole value is a credential. */
export const HELM_CREDENTIAL_FLAGS: ReadonlySet<string> = new Set(['--password', '--kube-token']);

/** Whether the value of `flag` (e.g. "--set-string") may hold a secret. */
export function isSecretHelmFlag(flag: string): boolean {
  return HELM_SET_FLAGS.has(flag) || HELM_CREDENTIAL_FLAGS.has(flag);
}
