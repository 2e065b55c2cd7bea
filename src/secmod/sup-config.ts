/**
 * sec-mod reads a session's per-group and per-user settings files when its tunnel opens (as
 * ocserv does), so an edited file applies to the next session without a reload. The group's
 * file (config-per-group/GROUP, else default-group-config) comes first, then the user's
 * (config-per-user/USER, else default-user-config); session-config.ts merges them.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../common/config';
import type { Logger } from '../common/log';
import { mergeSessionConfig, parseSessionConfig, type SessionConfig } from '../common/session-config';

/** A settings file is a few lines; anything this big is a mistake, not configuration. */
const MAX_FILE_BYTES = 256 * 1024;

export type SupConfigResult = { ok: true; config: SessionConfig } | { ok: false; reason: string };

/** With RADIUS `groupconfig=true`, RADIUS supplies the per-session settings and no file is read (ocserv). */
export function settingsFromRadius(c: Config): boolean {
  return c.auth.some((m) => m.type === 'radius' && m.params.groupconfig === 'true');
}

/** A name that is a plain file name in the directory: never a path out of it. */
function fileNameOk(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\0]/.test(name);
}

export class SupConfigReader {
  /** warnings already logged, per file version: once per file, not once per session */
  private readonly told = new Set<string>();

  constructor(private readonly log: Logger) {}

  async read(c: Config, username: string, groupname: string): Promise<SupConfigResult> {
    try {
      return await this.readFiles(c, username, groupname);
    } catch (err) {
      // a bug here must cost one session, not sec-mod
      this.log.error({ user: username, err: (err as Error).message }, 'cannot read the per-user/group settings');
      return { ok: false, reason: 'internal error reading the per-user/group settings' };
    }
  }

  private async readFiles(c: Config, username: string, groupname: string): Promise<SupConfigResult> {
    if (settingsFromRadius(c)) return { ok: true, config: {} };
    let merged: SessionConfig = {};
    const steps: Array<{ dir?: string; name: string; fallback?: string; kind: 'group' | 'user' }> = [];
    // as ocserv: a session without a group reads no group file, not even the default
    if (c.configPerGroup && groupname) steps.push({ dir: c.configPerGroup, name: groupname, fallback: c.defaultGroupConfig, kind: 'group' });
    if (c.configPerUser) steps.push({ dir: c.configPerUser, name: username, fallback: c.defaultUserConfig, kind: 'user' });
    for (const step of steps) {
      let r = fileNameOk(step.name) ? await this.readOne(join(step.dir!, step.name)) : undefined;
      if (r === undefined && !fileNameOk(step.name)) {
        this.log.warn({ [step.kind]: step.name }, `${step.kind} name cannot be a file name in config-per-${step.kind}; using default-${step.kind}-config`);
      }
      if (r === undefined && step.fallback) {
        r = await this.readOne(step.fallback);
        if (r === undefined) this.warnOnce(`missing\0${step.fallback}`, { file: step.fallback }, `default-${step.kind}-config cannot be found; going on without it`);
      }
      if (r === undefined) continue;
      if (!r.ok) return r;
      merged = mergeSessionConfig(merged, r.config);
    }
    return { ok: true, config: merged };
  }

  /** undefined: there is no such file */
  private async readOne(file: string): Promise<SupConfigResult | undefined> {
    let text: string;
    let version: string;
    try {
      const st = await stat(file);
      if (!st.isFile()) return this.refuse(file, 0, 'not a regular file');
      if (st.size > MAX_FILE_BYTES) return this.refuse(file, 0, `file of ${st.size} bytes is too large for a settings file`);
      version = `${file}\0${st.mtimeMs}\0${st.size}`;
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      // an unreadable file may hold restrictions: never fall back to the default then
      return this.refuse(file, 0, `cannot read: ${(err as Error).message}`);
    }
    const parsed = parseSessionConfig(text, file);
    for (const w of parsed.warnings) this.warnOnce(`${version}\0${w.key}`, { file, line: w.line }, w.message);
    if (parsed.errors.length) {
      for (const e of parsed.errors) this.log.error({ file: e.file, line: e.line }, `settings file: ${e.reason}`);
      const e = parsed.errors[0];
      return { ok: false, reason: `error in ${e.file}:${e.line}: ${e.reason}` };
    }
    this.log.debug({ file }, 'read per-user/group settings');
    return { ok: true, config: parsed.config };
  }

  private refuse(file: string, line: number, reason: string): SupConfigResult {
    this.log.error({ file, line }, `settings file: ${reason}`);
    return { ok: false, reason: `error in ${file}: ${reason}` };
  }

  private warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.told.has(key)) return;
    if (this.told.size > 10_000) this.told.clear();
    this.told.add(key);
    this.log.warn(fields, message);
  }
}
