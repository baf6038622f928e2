"""Feed lists from URLs, text files and OPML: staged on disk, in order, each once; bad
entries named by file and line."""
from __future__ import annotations

import os
import pickle
import re
import tracemalloc

import pytest

from crawler.errors import UserError
from crawler.fetch.feedlist import read_feed_args
from crawler.store.staging import BATCH, StagedFeeds


def test_order_kept_duplicates_dropped_past_a_batch(tmp_path):
    urls = [f"http://127.0.0.92/f/{i}.xml" for i in range(BATCH + 1)]
    listing = tmp_path / "feeds.txt"
    listing.write_text("# my feeds\n\n" + "\n".join(f"{u}  # feed {i}" for i, u in enumerate(urls)))
    staged = read_feed_args([urls[3], str(listing), urls[0]])
    assert len(staged) == BATCH + 1
    assert list(staged) == [urls[3], *urls[:3], *urls[4:]]
    assert [len(b) for b in staged.batches()] == [BATCH, 1]
    assert urls[-1] in staged and "http://127.0.0.92/other.xml" not in staged


def test_a_copy_in_another_process_reads_the_file_and_leaves_it(tmp_path):
    staged = StagedFeeds(["http://127.0.0.92/a.xml", "http://127.0.0.92/b.xml"])
    copy = pickle.loads(pickle.dumps(staged))
    assert list(copy) == list(staged) and len(copy) == 2
    copy.close()
    assert os.path.exists(staged.path)
    staged.close()
    assert not os.path.exists(staged.path)


def test_memory_does_not_grow_with_the_list(tmp_path):
    listing = tmp_path / "feeds.txt"
    with listing.open("w") as f:
        for i in range(50_000):
            f.write(f"http://127.0.0.92/feeds/{i:06d}/rss.xml\n")
    tracemalloc.start()
    try:
        staged = read_feed_args([str(listing)])
        assert sum(1 for _ in staged) == 50_000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # a Python list of these URLs alone takes ~4.5 MB


@pytest.mark.parametrize("content, message", [
    (b"http://127.0.0.92/a.xml\nftp://127.0.0.92/b.xml\n",
     "feeds.txt, line 2: 'ftp://127.0.0.92/b.xml' is not an http(s) URL"),
    (b"http://127.0.0.92/a.xml\n\xff\xfe\n", "feeds.txt, line 2: not UTF-8 text"),
])
def test_bad_lines_are_named(tmp_path, content, message):
    (tmp_path / "feeds.txt").write_bytes(content)
    with pytest.raises(UserError, match=re.escape(message)):
        read_feed_args([str(tmp_path / "feeds.txt")])


def test_opml_nested_outlines_streamed(tmp_path):
    opml = tmp_path / "subs.opml"
    opml.write_text('<?xml version="1.0"?><opml version="2.0"><body>'
                    '<outline text="Politik"><outline xmlUrl="http://127.0.0.92/p.xml"/>'
                    '<outline xmlUrl="http://127.0.0.92/w.xml"/></outline>'
                    '<outline xmlUrl="http://127.0.0.92/s.xml"/></body></opml>')
    assert list(read_feed_args([str(opml)])) == [
        "http://127.0.0.92/p.xml", "http://127.0.0.92/w.xml", "http://127.0.0.92/s.xml"]
    opml.write_text('<opml><body><outline xmlUrl="http://127.0.0.92/p.xml">\n</body></opml>')
    with pytest.raises(UserError, match=r"subs.opml, line 2: not valid OPML"):
        read_feed_args([str(opml)])
    opml.write_text('<opml><body><outline text="leer"/></body></opml>')
    with pytest.raises(UserError, match="lists no feeds"):
        read_feed_args([str(opml)])
