"""Every fd the kernel looks up in an mprog call: EBADF when not open, EINVAL when wrong.

``bpf_prog_get_type`` (prog fds: attach, replace, detach, link_create, link
update) and the relative lookup both tell an fd that is not open (EBADF)
from an open fd of the wrong object or program type (EINVAL). Here a closed
link and a bare fd number stand for fds that are not open; an open link,
fd 0 (stdin) and a program of another type for open fds of the wrong kind.
Each failing call must also leave the hook exactly as it was.
"""

from __future__ import annotations

import errno

import pytest

from qdisclab.mprog import (
    BPF_F_AFTER,
    BPF_F_BEFORE,
    BPF_F_LINK,
    BPF_F_REPLACE,
    BPF_PROG_TYPE_XDP,
    BPF_TCX_INGRESS,
    BpfObjects,
    Hook,
)

from .helpers import expect_errno, tc_progs

NOT_OPEN = "not open"
WRONG = "wrong"


@pytest.fixture
def world():
    """A hook with p1 attached prog-based, p2 link-based; p3 loaded; a closed and an open link."""
    objs = BpfObjects()
    hook = Hook(objs, BPF_TCX_INGRESS)
    p1, p2, p3, p4 = tc_progs(objs)
    hook.attach(p1)
    live = hook.link(p2)
    closed = hook.link(p4)
    closed.close()
    xdp = objs.program(lambda ctx: 0, name="xdp", prog_type=BPF_PROG_TYPE_XDP)
    return hook, {"p1": p1, "p2": p2, "p3": p3, "live": live, "closed": closed, "xdp": xdp}


def bad_values(objs):
    """(fd stand-in, the errno the kernel gives when it is looked up as a program fd)."""
    return [
        (12345, errno.EBADF),  # an fd number never opened
        (-1, errno.EBADF),
        (objs["closed"], errno.EBADF),  # a link whose last fd was closed
        (objs["live"], errno.EINVAL),  # an open fd that is a link, not a program
        (0, errno.EINVAL),  # fd 0: stdin, open but not a program
        (objs["xdp"], errno.EINVAL),  # a program of the wrong type
    ]


def unchanged(hook, before):
    assert hook.query() == before


CASES = ["prog_attach", "prog_attach_replace", "prog_detach", "link_create"]


@pytest.mark.parametrize("call", CASES)
def test_program_fd_lookup_errno(world, call):
    hook, objs = world
    for value, code in bad_values(objs):
        before = hook.query()
        if call == "prog_attach":
            expect_errno(code, hook.prog_attach, value)
        elif call == "prog_attach_replace":
            expect_errno(code, hook.prog_attach, objs["p3"], BPF_F_REPLACE, None, 0, value)
        elif call == "prog_detach":
            expect_errno(code, hook.prog_detach, value)
        else:
            expect_errno(code, hook.link_create, value)
        unchanged(hook, before)


def test_the_program_fd_is_looked_up_before_the_replace_fd(world):
    hook, objs = world
    expect_errno(errno.EBADF, hook.prog_attach, 777, BPF_F_REPLACE, None, 0, objs["live"])
    expect_errno(errno.EINVAL, hook.prog_attach, objs["live"], BPF_F_REPLACE, None, 0, 777)


def test_replace_fd_is_ignored_without_replace(world):
    hook, objs = world
    hook.prog_attach(objs["p3"], 0, None, 0, 777)  # replace_bpf_fd only read with BPF_F_REPLACE
    assert objs["p3"] in hook.programs


@pytest.mark.parametrize("call", ["prog_attach", "prog_detach", "link_create"])
@pytest.mark.parametrize(
    ("flags", "relative", "code"),
    [
        (BPF_F_BEFORE, 4242, errno.EBADF),  # program relative: fd never opened
        (BPF_F_BEFORE, "closed", errno.EBADF),
        (BPF_F_BEFORE, "live", errno.EINVAL),  # a link fd without BPF_F_LINK
        (BPF_F_BEFORE, "xdp", errno.EINVAL),
        (BPF_F_AFTER | BPF_F_LINK, 4242, errno.EBADF),  # link relative: fd never opened
        (BPF_F_AFTER | BPF_F_LINK, "closed", errno.EBADF),
        (BPF_F_AFTER | BPF_F_LINK, "p1", errno.EINVAL),  # a program fd with BPF_F_LINK
        (BPF_F_AFTER | BPF_F_LINK, 0, errno.EINVAL),
    ],
)
def test_relative_fd_lookup_errno(world, call, flags, relative, code):
    hook, objs = world
    rel = objs.get(relative, relative) if isinstance(relative, str) else relative
    before = hook.query()
    if call == "prog_attach":
        expect_errno(code, hook.prog_attach, objs["p3"], flags, rel)
    elif call == "prog_detach":
        expect_errno(code, hook.prog_detach, objs["p1"], flags, rel)
    else:
        expect_errno(code, hook.link_create, objs["p3"], flags, rel)
    unchanged(hook, before)


def test_link_update_new_and_old_program_fds(world):
    hook, objs = world
    link = objs["live"]
    for value, code in bad_values(objs)[:5]:  # link_update's lookups are untyped
        before = hook.query()
        expect_errno(code, link.update, value)
        expect_errno(code, link.update, objs["p3"], value if value != 0 else objs["live"])
        unchanged(hook, before)
    expect_errno(errno.EINVAL, link.update, objs["xdp"])  # the type is checked at re-attach
    link.update(objs["p3"], objs["p2"])
    assert link.prog is objs["p3"]
