// Unmounting without a shell. fuse-native's own unmount runs `fusermount -uz "<path>"`
// through child_process.exec, so a mount point named `/tmp/m$(cmd)` runs `cmd` as the
// daemon's user. Here the path is one argv element behind `--`: no shell ever sees it.

import { execFile } from 'node:child_process';

/** `fusermount -u -z -- <mountpoint>`: lazy, so a busy mount (a shell cd'ed into it)
 * still detaches. Rejects with fusermount's own message when it fails. */
export function fusermountUnmount(mountpoint: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('fusermount', ['-u', '-z', '--', mountpoint], { shell: false }, (err, _stdout, stderr) => {
      if (err === null) return resolve();
      const said = String(stderr).trim();
      reject(new Error(said === '' ? `fusermount -u ${mountpoint}: ${err.message}` : said));
    });
  });
}
