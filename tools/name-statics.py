#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Every file-scope static of src/*.c is named after its file: those of fl-foo-bar.c start
with fl_foo_bar_, so grep finds a helper from its file's name and a name says where it lives.

  tools/name-statics.py [FILE.c...]          renames the statics that are not (in place)
  tools/name-statics.py --check [FILE.c...]  lists them and fails; tests/meson.build runs it

Without files: src/*.c beside this script. A static is renamed inside its own file only (it
is file-local), never inside a string; fl_claude_x in fl-agent-claude.c keeps the part that
names the file already (fl_agent_claude_x). GObject's signals[] and props[] stay as GLib
writes them. A name whose new form is taken is reported and left alone (see OVERRIDES)."""
import glob
import os
import re
import sys

KEEP = {'signals', 'properties', 'props', 'obj_props', 'main'}

# where the mechanical name is taken already
OVERRIDES = {'fl-fleet.c': {'fl_spec_str': 'fl_fleet_dict_str'}}

FUNCTION = re.compile(r'(?m)^static\b[^;{=()]*?\n?([A-Za-z_][A-Za-z0-9_]*)\s*\(')
VARIABLE = re.compile(r'(?m)^static\b([^;(]*?)\b([A-Za-z_][A-Za-z0-9_]*)\s*(\[[^\]]*\])*\s*(=|;)')
STRING = re.compile(r'"(?:\\.|[^"\\\n])*"')


def prefix_for(path):
    return os.path.basename(path)[:-2].replace('-', '_') + '_'


def new_name(name, prefix):
    if name.startswith(prefix):
        return None
    parts = prefix[:-1].split('_')[1:]
    # a name carrying part of the file's name already keeps the rest
    subs = [parts[i:j] for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)]
    for sub in sorted(subs, key=len, reverse=True):
        short = 'fl_' + '_'.join(sub) + '_'
        if name.startswith(short):
            return prefix + name[len(short):]
    if name.startswith('fl_'):
        return prefix + name[3:]
    return prefix + name


def statics(src):
    names = {m.group(1) for m in FUNCTION.finditer(src)}
    names |= {m.group(2) for m in VARIABLE.finditer(src)}
    return {n for n in names if n not in KEEP and not n.endswith('_parent_class')}


def misnamed(path, src):
    prefix = prefix_for(path)
    return sorted(n for n in statics(src) if not n.startswith(prefix))


def rename(path, src):
    prefix = prefix_for(path)
    renames = {}
    for n in misnamed(path, src):
        nn = OVERRIDES.get(os.path.basename(path), {}).get(n) or new_name(n, prefix)
        if re.search(r'\b%s\b' % re.escape(nn), src):
            print('%s: %s -> %s is taken, left alone' % (path, n, nn), file=sys.stderr)
            continue
        renames[n] = nn
    if not renames:
        return src
    # not a member (->x, .x), a designated initializer or a label
    pat = re.compile(r'(?<![A-Za-z0-9_>.])(' +
                     '|'.join(map(re.escape, sorted(renames, key=len, reverse=True))) +
                     r')\b(?!\s*:)')
    out = []
    pos = 0
    for m in STRING.finditer(src):
        out.append(pat.sub(lambda x: renames[x.group(1)], src[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(pat.sub(lambda x: renames[x.group(1)], src[pos:]))
    for n, nn in sorted(renames.items()):
        print('%s: %s -> %s' % (os.path.basename(path), n, nn))
    return ''.join(out)


def main(argv):
    check = '--check' in argv
    files = [a for a in argv if a != '--check']
    if not files:
        top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        files = sorted(glob.glob(os.path.join(top, 'src', '*.c')))
    bad = 0
    for path in files:
        with open(path) as f:
            src = f.read()
        if check:
            for n in misnamed(path, src):
                print('%s: static %s is not named %s*' % (path, n, prefix_for(path)))
                bad += 1
            continue
        new = rename(path, src)
        if new != src:
            with open(path, 'w') as f:
                f.write(new)
    if check:
        if bad:
            print('FAIL: %d statics not named after their file (tools/name-statics.py renames '
                  'them)' % bad)
            return 1
        print('ok: every static in %d files is named after its file' % len(files))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
