/** Optional command-line tools (helm, haproxy): used by the deploy tests when installed, skipped otherwise. */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** True when `command` is an executable file on PATH. */
export function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
