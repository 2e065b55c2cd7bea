/**
 * select-group-by-url (ocserv 1.3): a client that connects to https://server/GROUP asks for
 * group GROUP, as if it had picked it from the group list. ocserv takes any POST to a path
 * that is none of its own while a login has not begun; the group list is then not offered.
 */

/** the POST paths login uses itself */
const OWN = /^\/(?:auth)?(?:\?.*)?$/;

/**
 * The group a POST to `url` names, or undefined (select-group-by-url off, or one of login's
 * own paths). The query is not part of the name; %-escapes are decoded.
 */
export function groupFromUrl(url: string | undefined, enabled: boolean | undefined): string | undefined {
  if (!enabled || !url || OWN.test(url)) return undefined;
  const path = url.split('?')[0]!.replace(/\/+$/, '');
  if (path.length <= 1) return undefined;
  let name: string;
  try {
    name = decodeURIComponent(path.slice(1));
  } catch {
    return undefined; // not a name: the request gets the 404 any unknown path gets
  }
  // the group name goes to sec-mod, which bounds it at 256 characters
  return name && name.length <= 256 && !/[\x00-\x1f\x7f]/.test(name) ? name : undefined;
}
