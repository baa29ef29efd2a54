// Writes to a `uevent` file: a synthetic uevent (lib/kobject_uevent.c kobject_synth_uevent,
// reached from the driver core's uevent_store, bus_uevent_store and the driver's and the
// module's store_uevent). The text is an action, optionally followed by a UUID and
// KEY=VALUE pairs; anything else is EINVAL and sends nothing. A valid write to a PCI
// device's `uevent` is sent (under `iommufs run`, to the sandbox's udev monitors); other
// objects' uevents are not simulated, so a valid write to theirs is only accepted.

import { Errno } from './errno';
import type { UeventAction } from './group-events';
import type { Machine } from './machine';
import { isUuid } from './mdev';
import type { PciDevice } from './types';

/** kobject_actions[], in the kernel's order. */
const ACTIONS = ['add', 'remove', 'change', 'move', 'online', 'offline', 'bind', 'unbind'];
/** action_arg_word_end: keys and values are non-empty runs of isalnum characters. */
const WORD = /^[0-9A-Za-z]+$/;

/** kobject_action_type and kobject_action_args: throws EINVAL where the kernel does. */
export function checkSynthUevent(raw: string): void {
  parseSynthUevent(raw);
}

export interface SynthUevent {
  action: string;
  /** What kobject_synth_uevent adds to the environment: SYNTH_UUID (0 without one), then
   * SYNTH_ARG_<KEY>=<VALUE> per argument. */
  env: string[];
}

/** The synthetic uevent a write asks for (lib/kobject_uevent.c kobject_synth_uevent). */
export function parseSynthUevent(raw: string): SynthUevent {
  // Both strip one trailing newline or NUL from the whole buffer.
  const text = raw.endsWith('\n') || raw.endsWith('\0') ? raw.slice(0, -1) : raw;
  const space = text.indexOf(' ');
  const action = space < 0 ? text : text.slice(0, space);
  if (!ACTIONS.includes(action)) throw new Errno('EINVAL', 'unknown uevent action string');
  if (space < 0) return { action, env: ['SYNTH_UUID=0'] };
  const args = text.slice(space + 1);
  // "first arg is UUID", then " KEY=VALUE" pairs to the end.
  if (args.length < 36 || !isUuid(args.slice(0, 36))) throw new Errno('EINVAL', 'incorrect uevent action arguments');
  const env = [`SYNTH_UUID=${args.slice(0, 36)}`];
  let rest = args.slice(36);
  while (rest.length > 0) {
    const m = /^ ([^=]*)=([^ ]*)(.*)$/s.exec(rest);
    if (!m || !WORD.test(m[1]!) || !WORD.test(m[2]!)) throw new Errno('EINVAL', 'incorrect uevent action arguments');
    env.push(`SYNTH_ARG_${m[1]!}=${m[2]!}`);
    rest = m[3]!;
  }
  return { action, env };
}

/** A write to a PCI device's `uevent`: the synthetic uevent goes out (udevadm trigger),
 * with DRIVER= when a driver is bound, as dev_uevent adds it. Nothing else changes. */
export function synthPciUevent(m: Machine, d: PciDevice, raw: string): void {
  const { action, env } = parseSynthUevent(raw);
  m.changes.note({ events: [{ kind: 'uevent', action: action as UeventAction, device: d, driver: d.driver, synth: env }] });
}
