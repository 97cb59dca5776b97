#!/usr/bin/env python3
"""Loads event files with TensorBoard's own reader and lists what it finds.

    python3 -m venv /tmp/tbvenv && /tmp/tbvenv/bin/pip install tensorboard
    /tmp/tbvenv/bin/python scripts/check_tensorboard.py PATH [--expect tag1,tag2,...]

PATH is a run directory, a folder of event files or one event file; folders are
searched recursively, and each folder holding event files is one run, as for
`tensorboard --logdir`. For every run it prints each tag by kind (scalars,
histograms, images) with its number of events and their steps, read by
`EventAccumulator` (size guidance 0: keep everything). It then reads the run again
the way the TensorBoard server does (`plugin_event_accumulator`, which converts the
old-style summaries into the scalar, histogram and image plugins' tensors) and checks
that every tag reaches its plugin with the same number of events.

Exit status 1 when no event file is found, a file fails to load (an exception, or a
record TensorBoard drops as truncated or failing its CRC), a tag reaches no plugin, an
image is not a PNG of its stated size, or a tag named by --expect is absent from every
run; 0 otherwise. CI does not run this (it needs the tensorboard package).
"""
import argparse
import logging
import os
import struct
import sys

from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.backend.event_processing import plugin_event_accumulator as pea

KINDS = (("scalars", ea.SCALARS), ("histograms", ea.HISTOGRAMS), ("images", ea.IMAGES))
PLUGINS = {"scalars": "scalars", "histograms": "histograms", "images": "images"}


class DroppedRecords(logging.Handler):
    """TensorBoard's record reader logs, at debug level, and skips the rest of a file
    whose record is truncated or fails its CRC; this collects those messages."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        msg = record.getMessage()
        if "Truncated record" in msg or "crc32" in msg:
            self.messages.append(msg)


def event_files(path):
    if os.path.isfile(path):
        return {os.path.dirname(path) or ".": [path]}
    runs = {}
    for folder, _, names in os.walk(path):
        files = sorted(os.path.join(folder, n) for n in names if "tfevents" in n)
        if files:
            runs[folder] = files
    return dict(sorted(runs.items()))


def steps_text(steps):
    steps = sorted(steps)
    if len(steps) > 8:
        return "%s ... %s" % (", ".join(map(str, steps[:3])), ", ".join(map(str, steps[-2:])))
    return ", ".join(map(str, steps))


def png_size(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return height, width


def plugin_tags(server, plugin):
    try:
        return server.PluginTagToContent(plugin)
    except KeyError:  # no summary of that plugin in the run
        return {}


def load(path, size_guidance, cls, dropped):
    before = len(dropped.messages)
    acc = cls(path, size_guidance=size_guidance)
    acc.Reload()
    if len(dropped.messages) > before:
        raise RuntimeError("TensorBoard dropped records: " + "; ".join(dropped.messages[before:]))
    return acc


def check_run(run, files, dropped):
    """Prints the run's tags; returns (the tags found, a list of problems)."""
    problems = []
    everything = {kind: 0 for _, kind in KINDS}
    for f in files:
        try:
            acc = load(f, everything, ea.EventAccumulator, dropped)
            n = sum(len(acc.Tags()[name]) for name, _ in KINDS)
            print("  loaded %s (%d bytes, %d tags)" % (os.path.basename(f), os.path.getsize(f), n))
        except Exception as e:  # any failure of the reader is the finding
            problems.append("%s: failed to load: %s" % (f, e))
            print("  FAILED %s: %s" % (os.path.basename(f), e))
    if problems:
        return set(), problems

    # The run as a whole: TensorBoard reads a folder's files in name order.
    folder = os.path.dirname(files[0])
    acc = load(folder, everything, ea.EventAccumulator, dropped)
    tags = acc.Tags()
    found = set()
    counts = {}
    for name, kind in KINDS:
        print("  %s:" % name)
        if not tags[name]:
            print("    (none)")
        for tag in sorted(tags[name]):
            events = getattr(acc, {"scalars": "Scalars", "histograms": "Histograms", "images": "Images"}[name])(tag)
            counts[(name, tag)] = len(events)
            found.add(tag)
            detail = ""
            if name == "scalars":
                detail = " last %.6g" % events[-1].value
            elif name == "histograms":
                h = events[-1].histogram_value
                detail = " last: %d buckets, num %g, range [%g, %g]" % (len(h.bucket), h.num, h.min, h.max)
            else:
                im = events[-1]
                detail = " last: %dx%d PNG, %d bytes" % (im.width, im.height, len(im.encoded_image_string))
                for e in events:
                    if png_size(e.encoded_image_string) != (e.height, e.width):
                        problems.append("%s: image '%s' step %d is not a %dx%d PNG" % (run, tag, e.step, e.width, e.height))
            print("    %-28s %3d events, steps %s;%s" % (tag, len(events), steps_text(e.step for e in events), detail))

    # The server's view: each summary converted for its plugin.
    server = load(folder, {pea.TENSORS: 0}, pea.EventAccumulator, dropped)
    for (name, tag), n in sorted(counts.items()):
        in_plugin = plugin_tags(server, PLUGINS[name])
        if tag not in in_plugin:
            problems.append("%s: %s tag '%s' reaches no %s plugin" % (run, name, tag, PLUGINS[name]))
        elif len(server.Tensors(tag)) != n:
            problems.append("%s: tag '%s': %d events in the %s plugin, %d read" % (run, tag, len(server.Tensors(tag)),
                                                                                   PLUGINS[name], n))
    print("  server view (plugin_event_accumulator): %s" %
          ", ".join("%s %d tags" % (p, len(plugin_tags(server, p))) for p in sorted(set(PLUGINS.values()))))
    return found, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", help="a run directory, a folder of event files or an event file")
    ap.add_argument("--expect", default="", help="comma-separated tags that must be present")
    args = ap.parse_args()

    dropped = DroppedRecords()
    tb_logger = logging.getLogger("tensorboard")
    tb_logger.setLevel(logging.DEBUG)
    tb_logger.addHandler(dropped)
    tb_logger.propagate = False

    runs = event_files(args.path)
    if not runs:
        print("no event files under %s" % args.path)
        return 1
    found, problems = set(), []
    for run, files in runs.items():
        print("run %s: %d event file%s" % (run, len(files), "" if len(files) == 1 else "s"))
        try:
            tags, p = check_run(run, files, dropped)
        except Exception as e:
            tags, p = set(), ["%s: failed to load: %s" % (run, e)]
        found |= tags
        problems += p
    expected = [t for t in args.expect.split(",") if t]
    missing = [t for t in expected if t not in found]
    if missing:
        problems.append("expected tags absent: " + ", ".join(missing))
    for p in problems:
        print("ERROR: " + p)
    if not problems:
        print("OK: %d run%s, %d tags%s" % (len(runs), "" if len(runs) == 1 else "s", len(found),
                                           ", all %d expected present" % len(expected) if expected else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
