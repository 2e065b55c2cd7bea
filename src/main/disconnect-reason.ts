/**
 * ocserv's names for why a session ended (`occtl show events`), from ocserv-ts's own
 * reasons; a reason with no counterpart is passed on as it is.
 */
export function disconnectReason(reason: string): string {
  const r = reason.toLowerCase();
  if (r === '') return 'unspecified';
  if (r.includes('client disconnected')) return 'user disconnected';
  if (r.includes('dead peer') || r.includes('dpd')) return 'DPD timeout';
  if (r.includes('idle')) return 'idle timeout';
  if (r.includes('session timeout')) return 'session timeout';
  if (r.includes('administrator') || r.includes('shutting down') || r.includes('shut down')) return 'server disconnected';
  if (r.includes('closed the connection') || r === 'connection closed') return 'anyconnect client disconnected';
  if (r.includes('error')) return 'unspecified error';
  return reason;
}
