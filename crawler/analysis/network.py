"""The copy network written out for other tools: GraphML (networkx, Gephi), CSV, JSON.

GraphML is written with the standard library's ElementTree; every node carries its site
statistics as attributes and every edge ``stories`` (also as ``weight``, which Gephi draws) and
``median_lag_seconds``. JSON is networkx's node-link form
(``networkx.node_link_graph(data, edges="links")``).
"""
from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, fields
from typing import IO

from crawler.analysis.sites import CopyNetwork, SiteStats

FORMATS = ("graphml", "csv", "json")
CSV_COLUMNS = ("source", "target", "stories", "median_lag_seconds")
_GRAPHML_NS = "http://graphml.graphdrawing.org/xmlns"


def node_attributes(stats: SiteStats) -> dict:
    """A site's statistics as flat attributes (languages as "de:12 en:3"); None left out."""
    data = asdict(stats)
    site = data.pop("site")
    data["languages"] = " ".join(f"{k or '?'}:{v}" for k, v in stats.languages.items())
    return {"id": site, **{k: v for k, v in data.items() if v is not None}}


def _node_keys() -> list[tuple[str, str]]:
    """(attribute, GraphML type) of every node attribute, in SiteStats order."""
    keys = []
    for f in fields(SiteStats):
        if f.name == "site":
            continue
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        graphml = ("int" if kind.startswith("int") else "double" if kind.startswith("float")
                   else "string")
        keys.append((f.name, graphml))
    return keys


def write_network(network: CopyNetwork, out: IO[str], fmt: str) -> None:
    """Write ``network`` to the text stream ``out`` as ``fmt`` (one of FORMATS)."""
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for e in network.edges:
            writer.writerow([e.source, e.target, e.stories,
                             "" if e.median_lag_seconds is None else e.median_lag_seconds])
    elif fmt == "json":
        json.dump({"directed": True, "multigraph": False, "graph": {"name": "copy network"},
                   "nodes": [node_attributes(n) for n in network.nodes],
                   "links": [asdict(e) for e in network.edges]},
                  out, ensure_ascii=False, indent=1)
        out.write("\n")
    elif fmt == "graphml":
        out.write(graphml(network))
    else:
        raise ValueError(f"format must be one of {FORMATS}")


def graphml(network: CopyNetwork) -> str:
    """The network as a GraphML document (directed; node and edge attributes declared)."""
    ET.register_namespace("", _GRAPHML_NS)
    root = ET.Element(f"{{{_GRAPHML_NS}}}graphml")
    node_keys = _node_keys()
    edge_keys = [("stories", "int"), ("weight", "double"), ("median_lag_seconds", "double")]
    for scope, keys in (("node", node_keys), ("edge", edge_keys)):
        for name, kind in keys:
            ET.SubElement(root, f"{{{_GRAPHML_NS}}}key", {
                "id": f"{scope[0]}_{name}", "for": scope, "attr.name": name, "attr.type": kind})
    graph = ET.SubElement(root, f"{{{_GRAPHML_NS}}}graph", {"edgedefault": "directed"})
    for stats in network.nodes:
        attributes = node_attributes(stats)
        node = ET.SubElement(graph, f"{{{_GRAPHML_NS}}}node", {"id": attributes.pop("id")})
        for name, _ in node_keys:
            if name in attributes:
                _data(node, f"n_{name}", attributes[name])
    for e in network.edges:
        edge = ET.SubElement(graph, f"{{{_GRAPHML_NS}}}edge",
                             {"source": e.source, "target": e.target})
        _data(edge, "e_stories", e.stories)
        _data(edge, "e_weight", float(e.stories))
        if e.median_lag_seconds is not None:
            _data(edge, "e_median_lag_seconds", e.median_lag_seconds)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _data(parent: ET.Element, key: str, value) -> None:
    ET.SubElement(parent, f"{{{_GRAPHML_NS}}}data", {"key": key}).text = str(value)
