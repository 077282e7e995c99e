/** Stands for OIDC_CLIENT_ID inside an OIDC_ROLES_CLAIMS path, as one key (client ids may hold dots). */
const CLIENT_ID_PLACEHOLDER = '{client_id}';

/**
 * OIDC_ROLES_CLAIMS: comma-separated claim paths, keys separated by dots,
 * `{client_id}` replaced by the client id as a single key. Returns each path
 * as its list of keys.
 */
export function parseRolesClaims(text: string, clientId: string): { paths: string[][]; problems: string[] } {
  const problems: string[] = [];
  const paths: string[][] = [];
  for (const entry of text.split(',').map((s) => s.trim())) {
    if (entry === '') continue;
    const written = entry.split('.');
    // Checked as written: a missing OIDC_CLIENT_ID is reported on its own, not as a bad entry of the default.
    if (written.some((key) => key === '' || /\s/.test(key))) {
      problems.push(`OIDC_ROLES_CLAIMS entry "${entry}" must be claim names separated by dots`);
      continue;
    }
    paths.push(written.map((key) => (key === CLIENT_ID_PLACEHOLDER ? clientId : key)));
  }
  if (paths.length === 0 && problems.length === 0) problems.push('OIDC_ROLES_CLAIMS must name at least one claim');
  return { paths, problems };
}
