// Inline Markdown escaping. Shared by the report renderer and the secret registry, which must also
// recognise a secret in the escaped form the report gives it. Pure.

/** Backslash-escape the characters that start emphasis, links, code, strike-through, cell breaks
 * and HTML tags / autolinks (`<` only when a tag could follow, so "91% < 99%" stays readable). */
export function escapeInline(text: string): string {
  return text.replace(/[\\`*_[\]|~]/g, '\\$&').replace(/<(?=[A-Za-z/!?])/g, '\\<');
}
