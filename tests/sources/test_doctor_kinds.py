"""`regwatch doctor` probes each source with its own kind's adapter (and its mirror)."""

from __future__ import annotations

from bot.doctor import run_doctor
from tests.helpers import local_settings, source_toml


async def test_doctor_reads_every_kind_with_its_adapter(tmp_path, feed_server, capsys):
    kev = feed_server.serve_fixture("/kev.json", "cisa_kev_2025-08-25_truncated.json")
    feed_server.fail("/kev.json", 403)
    mirror = feed_server.serve_fixture("/mirror.json", "cisa_kev_2025-08-25_truncated.json")
    fr = feed_server.serve_fixture("/fr.json", "federalregister_public_inspection_current.json")
    csaf = feed_server.serve_fixture("/csaf.json", "cisa_csaf_it_rolie_feed.json")
    sources = "".join(
        [
            source_toml("KEV", kev, "cisa_kev", {"mirror": mirror}),
            source_toml("FR", fr, "federal_register"),
            source_toml("CSAF", csaf, "csaf_rolie"),
        ]
    )
    code = await run_doctor(local_settings(tmp_path, sources, "", discord_token=None))
    out = capsys.readouterr().out
    assert code == 0, out
    rows = {line.split()[1]: line.split() for line in out.splitlines() if line[:1].isdigit()}
    # columns: id, name, kind, status, format, items, latency
    assert (rows["KEV"][2:4], rows["KEV"][5]) == (["cisa_kev", "ok"], "250")
    assert (rows["FR"][2:4], rows["FR"][5]) == (["federal_register", "ok"], "100")
    assert (rows["CSAF"][2:4], rows["CSAF"][5]) == (["csaf_rolie", "ok"], "4")
