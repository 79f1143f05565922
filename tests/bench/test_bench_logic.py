"""The benchmarks' own logic: verdicts, the sustained-rate rule, parsing other benchmarks' output.

These run in the normal suite (fast, no servers); the benchmarks themselves are run with
``python -m bench`` and are not tests.
"""

import dataclasses
from collections import Counter

import pytest

from bench.__main__ import payments_rows
from bench.generation import MEMORY_BUDGET_MIB, style_rows
from bench.generation_queue import percentile
from bench.harness import cpu_count
from bench.job_poll import p99_flat_row
from bench.load import P99_SLO_MS, Step, overload_rows, peak_connections, rows_for, saturation, sustained
from bench.report import Row, format_table, read_rows, write_rows
from bench.upload_memory import MAX_GROWTH_MIB
from bench.upload_memory import row_for as upload_memory_row


def step(c: int, ok: int, p99: float = 50.0, errors: Counter | None = None, label: str = "app") -> Step:
    return Step(label, c, 10.0, ok, errors or Counter(), {}, 0, {"p50": p99 / 3, "p95": p99 / 2, "p99": p99})


def test_a_row_refuses_an_unknown_verdict():
    with pytest.raises(ValueError, match="verdict"):
        Row("x", "-", "-", "-", "-", "OK")


def test_rows_round_trip_through_json_and_line_up(tmp_path):
    rows = [Row("a", "1 ms", "2 ms", "2x", "< 3x", "PASS"), Row("longer name", "-", "-", "-", "-", "SKIP", "why")]
    write_rows(tmp_path / "rows.json", rows)
    assert read_rows(tmp_path / "rows.json") == rows
    lines = format_table(rows).splitlines()
    assert lines[0].startswith("benchmark  ") and lines[1].startswith("-----------")
    assert lines[2].index("1 ms") == lines[3].index("-")  # columns aligned
    assert lines[-1] == "  longer name: why"


def test_sustained_is_the_best_step_without_errors_within_the_latency_target():
    steps = [step(1, 100), step(2, 180), step(4, 260, p99=P99_SLO_MS + 1), step(8, 300, errors=Counter({"x": 1}))]
    assert sustained(steps).connections == 2
    assert sustained([step(1, 100, errors=Counter({"status 500": 1}))]) is None


def test_a_step_whose_logins_ran_out_of_codes_is_not_the_mix():
    short = dataclasses.replace(step(8, 400), exhausted=57)  # 57 polls sent where logins were due
    assert not short.good and "(+57 polls for lack of codes)" in short.describe()
    assert sustained([step(4, 300), short]).connections == 4


def test_the_load_row_says_what_the_server_and_the_sandbox_kept_busy_at_the_sustained_step():
    app = dataclasses.replace(step(8, 300), server_cpu_s=14.0, sandbox_cpu_s=2.1)
    bare = dataclasses.replace(step(8, 50_000, label="bare"), server_cpu_s=16.5, sandbox_cpu_s=0.01)

    [row] = rows_for([bare], [app, step(16, 250)], [])
    assert f"at the sustained step gunicorn 1.40 cores, WeChat sandbox 0.21 of {cpu_count()} (bare: gunicorn " \
           "1.65 cores)" in row.note
    assert "(gunicorn 1.40 cores, WeChat sandbox 0.21)" in app.describe()


def test_saturation_is_where_doubling_connections_stops_paying():
    assert saturation([step(1, 100), step(2, 190), step(4, 200), step(8, 205)]).startswith(
        "saturates at ~20 req/s from c=2")
    assert saturation([step(1, 100), step(2, 190)]).startswith("still growing at c=2")
    # One slow step is no plateau: the server saturates where no later step is 10 % faster.
    dip = [step(1, 17460), step(2, 16410), step(4, 45200), step(8, 43590), step(16, 46140)]
    assert saturation(dip).startswith("saturates at ~4520 req/s from c=4")


def test_the_load_row_fails_without_a_good_step_or_with_a_problem_found_afterwards():
    bare = [step(1, 1000, label="bare")]
    [row] = rows_for(bare, [step(1, 10, errors=Counter({"socket timeout": 2}))], [])
    assert row.verdict == "FAIL" and "socket timeout" in row.note
    [row] = rows_for(bare, [step(1, 10)], ["3 uploads still pending review"])
    assert row.verdict == "FAIL" and "pending review" in row.note
    [row] = rows_for(bare, [step(1, 10), step(2, 12, errors=Counter({"status 503": 1}))], [])
    assert row.verdict == "PASS" and row.ratio == "1.0%" and "status 503" in row.note


def test_percentile_interpolates():
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile(list(range(101)), 95) == 95
    assert percentile([10, 20], 50) == 15


def test_a_style_over_the_memory_budget_fails():
    base = {"style": "anime", "baseline_cpu_s": 0.02, "cpu_s": 1.0, "growth_mib": 100, "children_max_rss_mib": 0}
    [ok, heavy] = style_rows([{**base, "high_water_mib": 400}, {**base, "high_water_mib": MEMORY_BUDGET_MIB + 1}])
    assert (ok.verdict, ok.ratio, heavy.verdict) == ("PASS", "50x", "FAIL")


def test_upload_memory_fails_on_growth_between_100_and_the_last_upload_not_on_the_level():
    flat = {"rss_start_mib": 140.0, "rss_100_mib": 480.0, "rss_end_mib": 480.0 + MAX_GROWTH_MIB}
    grown = {**flat, "rss_end_mib": 480.0 + MAX_GROWTH_MIB + 0.5}
    ok, bad = upload_memory_row("make run", 1000, flat, MAX_GROWTH_MIB), upload_memory_row("gunicorn", 1000, grown,
                                                                                            MAX_GROWTH_MIB)
    assert (ok.verdict, ok.ratio, bad.verdict, bad.ratio) == ("PASS", f"+{MAX_GROWTH_MIB:.1f} MiB", "FAIL", "+8.5 MiB")
    assert "gunicorn" in bad.name and "1000 uploads" in bad.name


PAYMENTS_OUTPUT = "\n".join([
    "took 42 s",
    "benchmark  baseline: verify+decrypt  subject: HTTP, 2 workers  per worker / baseline  target  result",
    "verified notifications/s  1520/s (1 core)  210.3/s (105.2/s per worker)  6.9%  >= 100/s  PASS",
    "-------------------------  ------------------------  --------------------  ---------  ------  ------",
    "204; fulfilled, 1 entitlement, 3 events  -  1500/1500 orders  -  all  PASS",
    "  round 2: something went wrong",
])


def test_the_payments_table_is_read_from_its_output():
    rows = payments_rows(PAYMENTS_OUTPUT, 0)
    assert [(r.name, r.baseline, r.subject, r.verdict) for r in rows] == [
        ("payments: verified notifications/s", "1520/s (1 core)", "210.3/s (105.2/s per worker)", "PASS"),
        ("payments: 204; fulfilled, 1 entitlement, 3 events", "-", "1500/1500 orders", "PASS")]
    [broken] = payments_rows("Traceback: boom", 1)
    assert broken.verdict == "FAIL" and "boom" in broken.note


def test_overload_holds_the_peak_only_with_90_percent_at_the_last_step_and_p99_300_ms_at_the_peak():
    [row] = overload_rows([step(2, 500, p99=100), step(16, 1000, p99=250), step(64, 920, p99=900)])
    assert row.verdict == "PASS" and row.ratio == "92%"
    [row] = overload_rows([step(2, 500, p99=100), step(16, 1000, p99=250), step(64, 890, p99=900)])
    assert row.verdict == "FAIL"
    [row] = overload_rows([step(2, 500, p99=100), step(16, 1000, p99=350), step(64, 990, p99=900)])
    assert row.verdict == "FAIL"  # held, but the peak itself was too slow
    [row] = overload_rows([step(2, 500), step(64, 990, errors=Counter({"status 503": 1}))])
    assert row.verdict == "FAIL" and "errors" in row.note


def test_the_p99_at_the_peak_is_read_where_the_server_saturates_not_at_the_most_queued_step():
    # A flat plateau from c=4 on: the best rate happens to be the last step, whose latency is queueing.
    plateau = [step(2, 2040, p99=55), step(4, 2180, p99=57), step(8, 2000, p99=82), step(64, 2370, p99=357)]
    [row] = overload_rows(plateau)
    assert row.verdict == "PASS" and row.ratio == "100%" and "reached at c=4, p99 57 ms" in row.baseline
    # Still growing at the last step: the peak is that step, and its p99 counts.
    [row] = overload_rows([step(2, 500, p99=100), step(16, 1000, p99=200), step(64, 1900, p99=400)])
    assert row.verdict == "FAIL" and "reached at c=64, p99 400 ms" in row.baseline
    # Saturated early but slow there: fails although the rate holds.
    [row] = overload_rows([step(2, 500, p99=320), step(4, 510, p99=600), step(64, 505, p99=900)])
    assert row.verdict == "FAIL"




def test_the_load_test_serves_both_sides_as_production_does_unless_told_otherwise(monkeypatch, tmp_path):
    from app import gunicorn_conf
    from bench import harness

    monkeypatch.delenv("BENCH_GUNICORN_ARGS", raising=False)
    deployed = harness.deployed_gunicorn_args()
    assert deployed == ["-w", str(harness.GUNICORN_WORKERS), "-k", gunicorn_conf.worker_class,
                        "--threads", str(gunicorn_conf.threads)]
    assert gunicorn_conf.worker_class == "gthread"  # the class chosen by measurement (docs/performance.md)
    assert harness.Gunicorn("x", "bench.bare_app:app", {}, tmp_path, deployed).args == deployed
    assert harness.Gunicorn("x", "bench.bare_app:app", {}, tmp_path).args == harness.GUNICORN_ARGS  # the CPU rows
    monkeypatch.setenv("BENCH_GUNICORN_ARGS", "-w 3 -k sync")
    monkeypatch.setattr(harness, "GUNICORN_ARGS", ["-w", "3", "-k", "sync"])
    assert harness.deployed_gunicorn_args() == ["-w", "3", "-k", "sync"]


def test_the_overload_row_compares_the_medians_of_the_alternated_peak_and_last_connections():
    steps = [step(2, 500, p99=100), step(16, 1000, p99=250), step(32, 980, p99=400), step(64, 850, p99=900)]
    assert peak_connections(steps) == 16
    [by_steps] = overload_rows(steps)
    assert by_steps.verdict == "FAIL" and by_steps.ratio == "85%"  # one reading against the best of several
    held = [(step(16, 1000), step(64, 960)), (step(16, 940), step(64, 990)), (step(16, 970), step(64, 900))]
    [row] = overload_rows(steps, held)
    assert row.verdict == "PASS" and row.ratio == "99%"  # medians 960 / 970
    assert "c=16: 100, 94, 97 req/s (median 97)" in row.baseline and "c=64: 96, 99, 90" in row.subject
    assert "the steps alone: c=64 85 req/s against the best step's 100, 85%" in row.note
    lower = [(step(16, 1000), step(64, 850)), (step(16, 990), step(64, 880)), (step(16, 1010), step(64, 990))]
    [row] = overload_rows(steps, lower)
    assert row.verdict == "FAIL" and row.ratio == "88%"  # the medians 880 / 1000: a real drop
    erring = [(step(16, 1000), step(64, 990)), (step(16, 1000), step(64, 990, errors=Counter({"status 503": 2})))]
    [row] = overload_rows(steps, erring)
    assert row.verdict == "FAIL" and "c=64: {'status 503': 2}" in row.note
    slow_peak = [(step(16, 1000), step(64, 990)), (step(16, 700, errors=Counter({"socket timeout": 3})), step(64, 990))]
    [row] = overload_rows(steps, slow_peak)
    assert row.verdict == "FAIL" and "c=16: {'socket timeout': 3}" in row.note  # an erring peak flatters the share
    [row] = overload_rows([step(2, 500, p99=320), step(4, 510, p99=600), step(64, 505, p99=900)],
                          [(step(4, 510), step(64, 505))])
    assert row.verdict == "FAIL"  # held, but slow at the peak


def test_nothing_is_alternated_when_the_last_step_is_the_best_or_erred():
    assert peak_connections([step(2, 500), step(16, 900), step(64, 1000)]) is None
    assert peak_connections([step(2, 500), step(64, 1000, errors=Counter({"socket timeout": 1}))]) is None
    assert peak_connections([step(64, 1000)]) is None


def test_the_poll_p99_is_flat_when_it_moves_with_bare_and_not_when_it_moves_alone():
    # The machine's own tail rose 40 % between the two sizes, the poll's with it: that is not the queue.
    both = p99_flat_row(10, 100_000, ((0.6, 1.0), (1.0, 2.0)), ((0.6, 1.4), (1.0, 2.8)))
    assert both.verdict == "PASS" and both.ratio == "+0%"
    assert "absolute +40%" in both.note and "bare's own +40%" in both.note
    assert both.subject == "2.80 ms (2.00x bare)"
    # The poll's p99 rose 40 % while bare's did not: the queue's length shows.
    alone = p99_flat_row(10, 100_000, ((0.6, 1.0), (1.0, 2.0)), ((0.6, 1.0), (1.0, 2.8)))
    assert alone.verdict == "FAIL" and alone.ratio == "+40%"
    # Getting faster by more than 20 % relative to bare is not flat either.
    assert p99_flat_row(10, 100_000, ((0.6, 1.0), (1.0, 2.0)), ((0.6, 1.0), (1.0, 1.4))).verdict == "FAIL"
