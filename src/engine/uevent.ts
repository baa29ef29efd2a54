// Writes to a `uevent` file: a synthetic uevent (lib/kobject_uevent.c kobject_synth_uevent,
// reached from the driver core's uevent_store, bus_uevent_store and the driver's and the
// module's store_uevent). The text is an action, optionally followed by a UUID and
// KEY=VALUE pairs; anything else is EINVAL and sends nothing. The simulator has no uevent
// listeners, so a valid write has no effect beyond being accepted.

import { Errno } from './errno';
import { isUuid } from './mdev';

/** kobject_actions[], in the kernel's order. */
const ACTIONS = ['add', 'remove', 'change', 'move', 'online', 'offline', 'bind', 'unbind'];
/** action_arg_word_end: keys and values are non-empty runs of isalnum characters. */
const WORD = /^[0-9A-Za-z]+$/;

/** kobject_action_type and kobject_action_args: throws EINVAL where the kernel does. */
export function checkSynthUevent(raw: string): void {
  // Both strip one trailing newline or NUL from the whole buffer.
  const text = raw.endsWith('\n') || raw.endsWith('\0') ? raw.slice(0, -1) : raw;
  const space = text.indexOf(' ');
  const action = space < 0 ? text : text.slice(0, space);
  if (!ACTIONS.includes(action)) throw new Errno('EINVAL', 'unknown uevent action string');
  if (space < 0) return;
  const args = text.slice(space + 1);
  // "first arg is UUID", then " KEY=VALUE" pairs to the end.
  if (args.length < 36 || !isUuid(args.slice(0, 36))) throw new Errno('EINVAL', 'incorrect uevent action arguments');
  let rest = args.slice(36);
  while (rest.length > 0) {
    const m = /^ ([^=]*)=([^ ]*)(.*)$/s.exec(rest);
    if (!m || !WORD.test(m[1]!) || !WORD.test(m[2]!)) throw new Errno('EINVAL', 'incorrect uevent action arguments');
    rest = m[3]!;
  }
}
