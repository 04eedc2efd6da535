"""Routes: every node reaches every address on a shortest path; stubs need no /32 per host."""

from __future__ import annotations

import random
from collections import deque

import pytest

from qdisclab.net import RouteTable, World


def distances(world: World, dst_name: str) -> dict[str, int]:
    dist = {dst_name: 0}
    frontier = deque([world.node(dst_name)])
    while frontier:
        node = frontier.popleft()
        for dev in node.devices.values():
            if dev.peer is not None and dev.peer.node.name not in dist:
                dist[dev.peer.node.name] = dist[node.name] + 1
                frontier.append(dev.peer.node)
    return dist


def random_world(seed: int, hosts: int, routers: int) -> World:
    rng = random.Random(seed)
    world = World(seed=1)
    rs = [world.add_router(f"r{i}") for i in range(routers)]
    for i in range(1, routers):  # a random tree of routers plus a few extra edges
        world.connect(rs[i], rs[rng.randrange(i)])
    for _ in range(routers // 2):
        a, b = rng.sample(rs, 2)
        world.connect(a, b)
    for i in range(hosts):
        world.connect(world.add_host(f"h{i}"), rng.choice(rs))
    world.add_host("island")  # not connected: nothing routes to or from it
    world.build_routes()
    return world


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_lookup_follows_a_shortest_path(seed):
    world = random_world(seed, hosts=25, routers=8)
    island = world.node("island")
    for dst in world.nodes.values():
        if dst is island:
            continue
        dist = distances(world, dst.name)
        for src in world.nodes.values():
            if src is dst or src is island:
                continue
            for addr in dst.addresses:
                dev = src.routes.lookup(addr)
                assert dev is not None and dev.node is src, (src, addr)
                # the next node is one hop closer to the destination
                assert dist[dev.peer.node.name] == dist[src.name] - 1, (src, dst, dev)
    for src in world.nodes.values():
        assert src.routes.lookup(0x08080808) is None  # outside the network: no route
    assert world.node("h0").routes.lookup(min(island.addresses, default=1)) is None


def test_a_1000_host_star_keeps_host_tables_constant():
    world = World(seed=1)
    hub = world.add_router("hub")
    hosts = [world.add_host(f"h{i}") for i in range(1000)]
    for h in hosts:
        world.connect(h, hub)
    world.build_routes()
    # each host: its connected /24 and one shared reachable set, not 1000 /32 routes
    assert all(len(h.routes.routes()) == 1 for h in hosts)
    assert len(hub.routes.routes()) == 1000  # the hub only has its connected subnets
    assert hosts[0].routes.lookup(hosts[999].addr) is hosts[0].devices["eth0"]
    assert hub.routes.lookup(hosts[500].addr) is hosts[500].devices["eth0"].peer


def test_route_table_longest_prefix_and_replace():
    table = RouteTable()
    table.add(0, 0, "default")
    table.add(0x0A000000, 8, "ten")
    table.add(0x0A010000, 16, "ten-one")
    table.add(0x0A010203, 32, "host")
    assert [table.lookup(a) for a in (0x0A010203, 0x0A010204, 0x0A020000, 0x0B000000)] == [
        "host", "ten-one", "ten", "default"]  # fmt: skip
    table.add(0x0A010000, 16, "again")  # replaces, and the cache follows
    assert table.lookup(0x0A010204) == "again"
    table.remove(0x0A010000, 16)
    assert table.lookup(0x0A010204) == "ten"
    table.add_reachable({0x0A010204}, "set")
    assert table.lookup(0x0A010204) == "set" and table.lookup(0x0A010203) == "host"
    assert [r.length for r in table.routes()] == [32, 8, 0]
