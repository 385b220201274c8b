"""DCASE Task 2 editions 2021-2025: names, evaluation lists, datasets on small WAV trees written
here, official scores by hand, and one tiny end-to-end run on synthetic-shift (dcase2022)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from asdbench_dcase_editions import names
from asdbench_dcase_editions.dataset import attribute_classes, find_set, sibling_eval
from asdbench_dcase_editions.editions import EDITIONS
from asdbench_dcase_editions.evallists import eval_truth, parse_eval_list
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

import asdbench.commands.leaderboard as lb
from asdbench.config import resolve
from asdbench.data import ANOMALY, NORMAL, TEST, TRAIN, Clip
from asdbench.matrix.grid import expand, load_matrix
from asdbench.metrics import (
    HMEAN_FLOOR,
    compute_metrics,
    protocol_registry,
    write_submission,
)
from asdbench.plugins import get_registry, load_plugins
from asdbench.registry import AsdbenchError
from asdbench.run.pipeline import train_and_evaluate
from asdbench.testing import pairwise_auc, score_table

REPO = Path(__file__).resolve().parents[3]
SR = 16000


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize("name, expected", [
    # 2021: attributes in training names only
    ("section_00_source_train_normal_0000_strength_1_ambient.wav",
     ("00", "source", "train", NORMAL, "0000", "strength_1_ambient")),
    ("section_01_target_train_normal_0002_0_g_25_mm_2000_mV_none.wav",
     ("01", "target", "train", NORMAL, "0002", "0_g_25_mm_2000_mV_none")),
    ("section_02_target_test_anomaly_0099.wav", ("02", "target", "test", ANOMALY, "0099", "")),
    # 2022: values with dots, dashes in keys
    ("section_03_source_test_anomaly_0000_volt_3.0.wav",
     ("03", "source", "test", ANOMALY, "0000", "volt_3.0")),
    ("section_05_source_test_normal_0021_f-n_A.wav",
     ("05", "source", "test", NORMAL, "0021", "f-n_A")),
    # 2023
    ("section_00_target_test_normal_0001_car_C1_spd_Mb_mic_1.wav",
     ("00", "target", "test", NORMAL, "0001", "car_C1_spd_Mb_mic_1")),
    # 2024: noAttribute means none; RoboticArm evaluation names without "_test_" (and,
    # in the official evaluator, without ".wav")
    ("section_00_source_train_normal_0000_noAttribute.wav",
     ("00", "source", "train", NORMAL, "0000", "")),
    ("section_00_target_test_anomaly_0001_mdl_B_spd_2.wav",
     ("00", "target", "test", ANOMALY, "0001", "mdl_B_spd_2")),
    ("section_00_source_normal_0035_weight15_BckgF",
     ("00", "source", "", NORMAL, "0035", "weight15_BckgF")),
    ("section_00_target_anomaly_0059_weight25_BckgE.wav",
     ("00", "target", "", ANOMALY, "0059", "weight25_BckgE")),
    # 2025
    ("section_00_target_test_normal_0031_id_C1_spd_2_mic_2.wav",
     ("00", "target", "test", NORMAL, "0031", "id_C1_spd_2_mic_2")),
    ("section_00_source_test_normal_0003_mic_imp34dt05_mic_pos_B_grind_2_bkg_E.wav",
     ("00", "source", "test", NORMAL, "0003", "mic_imp34dt05_mic_pos_B_grind_2_bkg_E")),
])
def test_labelled_names_of_every_edition(name, expected):
    p = names.parse_clip_name(name)
    assert (p.section, p.domain, p.split, p.label, p.number, p.attributes) == expected
    section, domain, split, label, _, attributes = expected
    assert names.section_of(name) == section and names.domain_of(name) == domain
    assert names.split_of(name) == (split or None)
    assert names.label_of(name) == label and names.attributes_of(name) == attributes


@pytest.mark.parametrize("name, expected", [
    ("section_03_source_test_0000.wav", ("03", "source", "0000")),  # 2021
    ("section_04_target_test_0199.wav", ("04", "target", "0199")),  # 2021
    ("section_03_0000.wav", ("03", "", "0000")),  # 2022-2025
    ("section_05_test_0042.wav", ("05", "", "0042")),  # as in the 2022 baseline README
])
def test_evaluation_test_names(name, expected):
    p = names.parse_eval_test_name(name)
    assert (p.section, p.domain, p.number) == expected
    assert names.parse_clip_name(name) is None and names.label_of(name) is None
    assert names.split_of(name) == "test" and names.section_of(name) == expected[0]
    assert names.domain_of(name) == (expected[1] or None)


@pytest.mark.parametrize("name", ["normal_id_00_00000000.wav", "id_01_00000000.wav",
                                  "section_00_machine_0001_.wav", "section_00_noise.wav",
                                  "section_00_source_train_broken_0000.wav", ""])
def test_other_names_are_not_parsed(name):
    assert names.parse_clip_name(name) is None and names.parse_eval_test_name(name) is None
    assert names.section_of(name) is None and names.split_of(name) is None


# --- evaluation lists -----------------------------------------------------------------------


@pytest.mark.parametrize("year, n_files", [(2021, 8635), (2022, 4200), (2023, 1400),
                                           (2024, 1800), (2025, 1600)])
def test_shipped_lists_cover_each_edition(year, n_files):
    truth = eval_truth(year)
    assert set(truth) == set(EDITIONS[year].eval_types)
    assert sum(len(b) for b in truth.values()) == n_files
    sections = {"03", "04", "05"} if year <= 2022 else {"00"}
    for machine_type, block in truth.items():
        assert {t.section for t in block.values()} == sections
        for s in sections:  # every section is scorable under the edition's rules
            kinds = Counter((t.domain, t.label) for t in block.values() if t.section == s)
            assert set(kinds) == {(d, lab) for d in ("source", "target")
                                  for lab in (NORMAL, ANOMALY)}, (machine_type, s)


def test_2021_labels_come_from_the_original_names():
    fan = eval_truth(2021)["fan"]
    t = fan["section_03_source_test_0000.wav"]
    assert (t.original, t.domain, t.label) == ("section_03_source_test_anomaly_0000.wav",
                                               "source", ANOMALY)


def test_2022_list_is_the_corrected_one_with_the_evaluators_domains():
    truth = eval_truth(2022)
    toycar = truth["ToyCar"]
    # Labels of the official evaluator (Kota-Dohi/dcase2022_evaluator); the first published
    # list said anomaly, anomaly, normal for these three.
    assert [toycar[f"section_03_{n}.wav"].label for n in ("0004", "0009", "0014")] == [
        NORMAL, NORMAL, ANOMALY]
    # Domains of the official evaluator, where the list's names say otherwise.
    assert toycar["section_03_0000.wav"].domain == "target"
    assert toycar["section_03_0001.wav"].domain == "source"  # the name says target
    assert toycar["section_03_0001.wav"].attributes == ""  # the name's attributes dropped
    assert truth["ToyTrain"]["section_03_0000.wav"].domain == "source"  # name: target
    # other types keep the list's domains and attributes
    bearing = truth["bearing"]["section_03_0001.wav"]
    assert (bearing.domain, bearing.label, bearing.attributes) == ("target", ANOMALY, "vel_25")
    for machine_type in ("ToyCar", "ToyTrain"):  # 50 of each kind per section, as officially
        for s in ("03", "04", "05"):
            kinds = Counter((t.domain, t.label) for n, t in truth[machine_type].items()
                            if t.section == s)
            assert set(kinds.values()) == {50} and len(kinds) == 4


def test_2024_roboticarm_names_with_or_without_test():
    listed = eval_truth(2024)["RoboticArm"]["section_00_0000.wav"]
    published = parse_eval_list("RoboticArm\r\nsection_00_0000.wav,"
                                "section_00_source_normal_0035_weight15_BckgF\r\n")
    got = published["RoboticArm"]["section_00_0000.wav"]
    assert (got.domain, got.label, got.attributes) == (listed.domain, listed.label,
                                                       listed.attributes)
    assert (got.domain, got.label, got.attributes) == ("source", NORMAL, "weight15_BckgF")


def test_a_broken_list_line_names_the_list():
    with pytest.raises(AsdbenchError, match="my.csv:2"):
        parse_eval_list("fan\nsection_00_0000.wav,a,b\n", "my.csv")
    with pytest.raises(AsdbenchError, match="not a labelled"):
        parse_eval_list("fan\nsection_00_0000.wav,section_00_0000.wav\n", "my.csv")


# --- datasets on WAV trees ------------------------------------------------------------------


def wav(path: Path, seconds: float = 0.1, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = 0.1 * np.random.default_rng(seed).standard_normal(int(SR * seconds))
    sf.write(str(path), x.astype(np.float32), SR, subtype="PCM_16")


def dev_tree(folder: Path, machine_type: str, sections: list[str], year: int,
             train_attrs: str | None = None, test_attrs: str | None = None) -> None:
    """2 source + 1 target training clips and one test clip of each kind per section, named
    as in ``year`` (2021: attributes in training names only, source_test/target_test)."""
    if train_attrs is None:
        train_attrs = "_strength_1_ambient" if year == 2021 else "_vel_6"
    if test_attrs is None:
        test_attrs = "" if year == 2021 else "_vel_6"
    for s in sections:
        for domain, n in (("source", 2), ("target", 1)):
            for k in range(n):
                wav(folder / machine_type / "train" /
                    f"section_{s}_{domain}_train_normal_{k:04d}{train_attrs}.wav")
            sub = f"{domain}_test" if year == 2021 else "test"
            for word in ("normal", "anomaly"):
                wav(folder / machine_type / sub /
                    f"section_{s}_{domain}_test_{word}_0000{test_attrs}.wav")


def eval_tree(folder: Path, machine_type: str, year: int, per_kind: int = 2) -> list[str]:
    """Additional training clips, and evaluation test files named as in the official list
    (``per_kind`` of each (section, domain, label)); returns the test file names."""
    block = eval_truth(year)[machine_type]
    chosen, seen = [], Counter()
    for file_name, t in sorted(block.items()):
        if seen[(t.section, t.domain, t.label)] < per_kind:
            seen[(t.section, t.domain, t.label)] += 1
            chosen.append(file_name)
    for s in sorted({block[n].section for n in chosen}):
        for domain in ("source", "target"):
            wav(folder / machine_type / "train" / f"section_{s}_{domain}_train_normal_0000_a_1.wav")
    for n in chosen:
        sub = "test"
        if year == 2021:
            sub = "source_test" if "_source_" in n else "target_test"
        wav(folder / machine_type / sub / n)
    return chosen


def make(name: str, **options):
    return get_registry().create("dataset", name, options)


@pytest.mark.parametrize("year", [2021, 2022, 2023, 2024, 2025])
def test_every_edition_lists_dev_additional_and_labelled_eval_clips(tmp_path, year):
    edition = EDITIONS[year]
    dev_type, eval_type = edition.dev_types[0], edition.eval_types[-1]
    base = tmp_path / f"dcase{year}t2"
    # the official baseline's layout, with the optional raw/ level from 2023 on
    raw = ("raw",) if year >= 2023 else ()
    dev_sections = ["00", "01", "02"] if year <= 2022 else ["00"]
    dev_tree(base.joinpath("dev_data", *raw), dev_type, dev_sections, year)
    eval_names = eval_tree(base.joinpath("eval_data", *raw), eval_type, year)
    ds = make(edition.name, root=str(tmp_path), types=f"{dev_type},{eval_type}")
    assert ds.protocols == (("dcase2021",) if year == 2021 else ("dcase2022",))
    assert ds.audio.clip_seconds == (10.0 if year <= 2022 else 6.0)
    assert ds.dev == base.joinpath("dev_data", *raw) and ds.eval == base.joinpath("eval_data", *raw)
    clips = ds.clips()
    train = [c for c in clips if c.split == TRAIN]
    assert all(c.label == NORMAL for c in train)
    assert Counter(c.domain for c in train if dict(c.attributes)["set"] == "dev") == {
        "source": 2 * len(dev_sections), "target": len(dev_sections)}
    dev_test = [c for c in clips if c.split == TEST and dict(c.attributes)["set"] == "dev"]
    assert len(dev_test) == 4 * len(dev_sections) and {c.label for c in dev_test} == {0, 1}
    truth = eval_truth(year)[eval_type]
    ev = {c.file_name: c for c in clips if c.split == TEST and dict(c.attributes)["set"] == "eval"}
    assert sorted(ev) == sorted(eval_names)
    for n, c in ev.items():
        assert (c.label, c.domain, c.machine_id, c.machine_type) == (
            truth[n].label, truth[n].domain, truth[n].section, eval_type)
    eval_sections = sorted({truth[n].section for n in eval_names})
    assert ds.classes == sorted([f"{dev_type}/{s}" for s in dev_sections]
                                + [f"{eval_type}/{s}" for s in eval_sections])
    # the rest of the official list is reported missing, nothing else is wrong
    assert set(ds.report.counts) == {"missing listed file"}
    assert ds.report.counts["missing listed file"] == len(truth) - len(eval_names)
    only_eval = make(edition.name, root=str(tmp_path), types=f"{dev_type},{eval_type}",
                     test="eval")
    assert {c.file_name for c in only_eval.clips() if c.split == TEST} == set(eval_names)
    no_eval = make(edition.name, root=str(base / "dev_data"), types=dev_type, eval_root="none")
    assert no_eval.eval is None and all(dict(c.attributes)["set"] == "dev"
                                        for c in no_eval.clips())


def test_auto_eval_root_never_resolves_to_the_dev_set(tmp_path):
    """root=.../dev_data whose clips sit in dev_data/raw: the evaluation search also looks in
    raw/ and used to return the dev set as the evaluation set (every clip listed twice)."""
    dev_tree(tmp_path / "dev_data" / "raw", "fan", ["00"], 2022)
    ds = make("dcase2022", root=str(tmp_path / "dev_data"), types="fan")
    assert ds.dev == tmp_path / "dev_data" / "raw" and ds.eval is None
    names = [c.file_name for c in ds.clips()]
    assert len(names) == len(set(names))


def test_roots_are_found_in_every_supported_place(tmp_path):
    dev_tree(tmp_path / "a" / "dcase2022" / "dev_data", "fan", ["00"], 2022)
    dev_tree(tmp_path / "b" / "dev_data" / "raw", "fan", ["00"], 2022)
    dev_tree(tmp_path / "c", "fan", ["00"], 2022)
    assert find_set(tmp_path / "a", "dev_data", 2022, ["fan"]) == tmp_path / "a/dcase2022/dev_data"
    assert find_set(tmp_path / "b", "dev_data", 2022, ["fan"]) == tmp_path / "b/dev_data/raw"
    assert find_set(tmp_path / "c", "dev_data", 2022, ["fan"]) == tmp_path / "c"
    assert find_set(tmp_path / "c", "dev_data", 2022, ["pump"]) is None
    assert sibling_eval(tmp_path / "b/dev_data/raw") == tmp_path / "b/eval_data/raw"
    assert sibling_eval(tmp_path / "c") is None


def test_user_errors_name_the_option_or_folder(tmp_path):
    with pytest.raises(AsdbenchError, match=r"data\.root"):
        make("dcase2022")
    dev_tree(tmp_path / "dev_data", "fan", ["00"], 2022)
    with pytest.raises(AsdbenchError, match="machine type folder .*bearing"):
        make("dcase2022", root=str(tmp_path))  # the official types are all required
    with pytest.raises(AsdbenchError, match="data.test=eval needs"):
        make("dcase2022", root=str(tmp_path), types="fan", test="eval")
    with pytest.raises(AsdbenchError, match="'valve'"):
        make("dcase2022", root=str(tmp_path), types="fan,valve")
    with pytest.raises(AsdbenchError, match="data.test must be"):
        make("dcase2022", root=str(tmp_path), types="fan", test="both")
    with pytest.raises(AsdbenchError, match="attribute_classes must be true or false"):
        make("dcase2022", root=str(tmp_path), types="fan", attribute_classes="yes")


def test_odd_files_are_reported_not_fatal(tmp_path):
    dev_tree(tmp_path, "fan", ["00"], 2022)
    wav(tmp_path / "fan" / "train" / "section_00_source_train_anomaly_0009_vel_6.wav")
    wav(tmp_path / "fan" / "train" / "notes.wav")
    ds = make("dcase2022", root=str(tmp_path), types="fan")
    assert len([c for c in ds.clips() if c.split == TRAIN]) == 3
    assert ds.report.counts == {"anomaly in train": 1, "unrecognised name": 1}


def _clip(split, section, attrs, set_name="dev", label=NORMAL):
    key = "attributes" if set_name == "dev" else "truth_attributes"
    return Clip(path=Path(f"{split}-{section}-{attrs}.wav"), machine_type="fan",
                machine_id=section, split=split, label=label,
                attributes=(("set", set_name), (key, attrs)))


def test_attribute_classes_for_training_and_the_test_fallback():
    clips = [_clip(TRAIN, "00", "vel_6"), _clip(TRAIN, "00", "vel_6"),
             _clip(TRAIN, "00", "vel_9"), _clip(TRAIN, "01", ""),
             _clip(TEST, "00", "vel_9"),  # a trained combination in its name: its own class
             _clip(TEST, "00", "vel_12"),  # untrained: the section's most frequent
             _clip(TEST, "00", "vel_9", set_name="eval"),  # evaluation: never from truth
             _clip(TEST, "01", "")]
    out, fallbacks = attribute_classes(clips)
    assert [c.subclass for c in out] == ["vel_6", "vel_6", "vel_9", "none", "vel_9", "vel_6",
                                         "vel_6", "none"]
    assert fallbacks == 2 and out[0].class_key == "fan/00/vel_6"
    out, fallbacks = attribute_classes(clips, use_test_names=False)
    assert [c.subclass for c in out[4:]] == ["vel_6", "vel_6", "vel_6", "none"]
    assert fallbacks == 4


def test_attribute_classes_option_on_a_tree(tmp_path):
    # 2024 names: "noAttribute" training clips, and test names with an untrained attribute
    dev_tree(tmp_path, "fan", ["00"], 2024, train_attrs="_noAttribute", test_attrs="_vel_6")
    ds = make("dcase2024", root=str(tmp_path), types="fan", attribute_classes=True)
    assert ds.classes == ["fan/00/none"]
    assert {c.subclass for c in ds.clips()} == {"none"}
    assert ds.report.counts == {"attribute class fallback": 1}
    assert ds.report.problems[0][0] == "4 test clips"
    dev_tree(tmp_path / "b", "fan", ["00"], 2022)
    ds = make("dcase2022", root=str(tmp_path / "b"), types="fan", attribute_classes=True)
    assert ds.classes == ["fan/00/vel_6"] and not ds.report.problems


# --- official scores through the datasets' protocols -----------------------------------------


def mcclish(tpr_at_zero_fpr: float, max_fpr: float = 0.1) -> float:
    """Standardised pAUC of a ROC that stays at ``tpr_at_zero_fpr`` until FPR >= max_fpr."""
    raw, lo, hi = max_fpr * tpr_at_zero_fpr, max_fpr ** 2 / 2, max_fpr
    return 0.5 * (1 + (raw - lo) / (hi - lo))


def frame(rows):
    return pd.DataFrame(rows, columns=["file", "machine_type", "machine_id", "domain", "label",
                                       "score"])


def test_official_2021_score_by_hand(tmp_path):
    dev_tree(tmp_path, "fan", ["00"], 2021)
    protocol = make("dcase2021", root=str(tmp_path), types="fan").protocols[0]
    rows = []
    # source: normals .1 .2, anomalies .9 .15 -> AUC 3/4, half the anomalies above all normals
    for i, (lab, s) in enumerate([(0, .1), (0, .2), (1, .9), (1, .15)]):
        rows.append((f"s{i}", "fan", "00", "source", lab, s))
    # target: normals .5 .6, anomalies .7 .8 -> AUC 1, every anomaly above every normal
    for i, (lab, s) in enumerate([(0, .5), (0, .6), (1, .7), (1, .8)]):
        rows.append((f"t{i}", "fan", "00", "target", lab, s))
    m = compute_metrics(frame(rows), protocol)
    values = [3 / 4, mcclish(0.5), 1.0, mcclish(1.0)]
    assert m["average"]["official"] == pytest.approx(len(values) / sum(1 / v for v in values))
    assert m["ids"]["fan/00/source"]["pauc"] == pytest.approx(mcclish(0.5))


def test_official_2022_rules_by_hand_for_2022_to_2025(tmp_path):
    dev_tree(tmp_path, "fan", ["00"], 2023)
    protocols = {y: make(f"dcase{y}", root=str(tmp_path), types="fan").protocols[0]
                 for y in (2022, 2023, 2024, 2025)}
    assert set(protocols.values()) == {"dcase2022"}
    rows = [("a", "fan", "00", "source", 0, .1), ("b", "fan", "00", "source", 0, .3),
            ("c", "fan", "00", "target", 0, .6), ("d", "fan", "00", "target", 0, .8),
            ("e", "fan", "00", "source", 1, .7), ("f", "fan", "00", "target", 1, .9)]
    m = compute_metrics(frame(rows), "dcase2022")
    # AUC(source): source normals vs *all* anomalies = 1; AUC(target): target normals vs all
    # anomalies = 3/4; pAUC on all 6 clips: half the anomalies above every normal.
    values = [1.0, 3 / 4, mcclish(0.5)]
    e = m["ids"]["fan/00"]
    assert (e["auc_source"], e["auc_target"]) == (1.0, 0.75)
    assert m["average"]["official"] == pytest.approx(3 / sum(1 / v for v in values))


# --- the dcase2021 / dcase2022 metric protocols ------------------------------------------------


def _pauc(y, s) -> float:
    return float(roc_auc_score(y, s, max_fpr=0.1))


def test_protocols_come_from_this_plugin():
    registry = protocol_registry()
    for name, layout in (("dcase2021", "section_domain"), ("dcase2022", "section")):
        protocol = registry.get(name)
        assert protocol.plugin == "dcase_editions" and protocol.submission_layout == layout
        assert protocol.domains == ("source", "target") and protocol.description
    core = protocol_registry(load_plugins(entry_points_enabled=False))
    assert "dcase2021" not in core and "dcase2022" not in core


def test_dcase2021_per_domain_and_harmonic_mean():
    rng = np.random.default_rng(1)
    rows = []
    for mtype in ("fan", "gearbox"):
        for sec in ("00", "01"):
            for dom, sep in (("source", 2.0), ("target", 0.7)):
                for label in (0, 1):
                    for v in rng.normal(sep * label, 1.0, 20):
                        rows.append((mtype, sec, dom, label, float(v)))
    df = score_table(rows)
    m = compute_metrics(df, "dcase2021")
    values = []
    for (mtype, sec, dom), g in df.groupby(["machine_type", "machine_id", "domain"]):
        y, s = g["label"].to_numpy(), g["score"].to_numpy()
        e = m["ids"][f"{mtype}/{sec}/{dom}"]
        assert e["auc"] == pytest.approx(pairwise_auc(y, s))
        assert e["pauc"] == pytest.approx(_pauc(y, s))
        values += [e["auc"], e["pauc"]]
    assert len(m["ids"]) == 8
    assert m["average"]["official"] == pytest.approx(len(values) / sum(1 / v for v in values))
    fan = [m["ids"][k] for k in m["ids"] if k.startswith("fan/")]
    assert m["types"]["fan"]["auc"] == pytest.approx(np.mean([e["auc"] for e in fan]))
    assert m["types"]["fan"]["mauc"] == pytest.approx(min(e["auc"] for e in fan))


def _scores2022() -> pd.DataFrame:
    rows = []
    # section 00: source normals low, target normals mid; anomalies in both domains.
    for v in (0.0, 0.1, 0.2, 0.3):
        rows.append(("fan", "00", "source", 0, v))
    for v in (0.5, 0.6, 0.7):
        rows.append(("fan", "00", "target", 0, v))
    rows += [("fan", "00", "source", 1, 0.55), ("fan", "00", "target", 1, 0.25),
             ("fan", "00", "target", 1, 0.9)]
    # section 01: ordinary case
    for v in (0.0, 0.2, 0.4):
        rows.append(("fan", "01", "source", 0, v))
    rows += [("fan", "01", "target", 0, 0.3), ("fan", "01", "target", 0, 0.1),
             ("fan", "01", "source", 1, 0.35), ("fan", "01", "target", 1, 0.8)]
    return score_table(rows)


def test_dcase2022_source_target_auc_use_all_anomalies():
    df = _scores2022()
    m = compute_metrics(df, "dcase2022")
    official = []
    for sec, g in df.groupby("machine_id"):
        y, s, d = g["label"].to_numpy(), g["score"].to_numpy(), g["domain"].to_numpy()
        e = m["ids"][f"fan/{sec}"]
        for dom in ("source", "target"):
            keep = (d == dom) | (y == 1)
            assert e[f"auc_{dom}"] == pytest.approx(pairwise_auc(y[keep], s[keep]))
        assert e["pauc"] == pytest.approx(_pauc(y, s))
        assert e["auc"] == pytest.approx(pairwise_auc(y, s))
        official += [e["auc_source"], e["auc_target"], e["pauc"]]
    e0 = m["ids"]["fan/00"]
    # by hand: source normals {0,.1,.2,.3} vs anomalies {.55,.25,.9}: .25 beats 3 of 4 -> 11/12
    assert e0["auc_source"] == pytest.approx(11 / 12)
    # target normals {.5,.6,.7} vs the same three anomalies: .55 beats 1, .9 beats 3 -> 4/9
    assert e0["auc_target"] == pytest.approx(4 / 9)
    # a domain-only AUC (source anomalies only) would differ: 1.0
    assert e0["auc_source"] != pytest.approx(1.0)
    assert e0["n_normal_source"] == 4 and e0["n_normal_target"] == 3 and e0["n_anomaly"] == 3
    assert m["average"]["official"] == pytest.approx(len(official) / sum(1 / v for v in official))
    t = m["types"]["fan"]
    assert t["auc_source"] == pytest.approx(np.mean([m["ids"][k]["auc_source"] for k in m["ids"]]))
    assert t["auc"] == pytest.approx(np.mean([m["ids"][k][f"auc_{d}"] for k in m["ids"]
                                              for d in ("source", "target")]))
    assert t["mauc"] == pytest.approx(min(m["ids"][k][f"auc_{d}"] for k in m["ids"]
                                          for d in ("source", "target")))


def test_dcase2022_harmonic_mean_floor():
    df = score_table([("pump", "00", "source", 0, 0.0), ("pump", "00", "source", 1, 1.0),
                 ("pump", "00", "target", 0, 2.0), ("pump", "00", "target", 1, 1.5)])
    m = compute_metrics(df, "dcase2022")
    e = m["ids"]["pump/00"]
    assert e["auc_target"] == 0.0  # every target normal scores above every anomaly
    vals = [e["auc_source"], e["auc_target"], e["pauc"]]
    expected = 3 / sum(1 / max(v, HMEAN_FLOOR) for v in vals)
    assert m["average"]["official"] == pytest.approx(expected, rel=1e-9)
    assert 0 < m["average"]["official"] < 1e-14


def test_domain_protocols_need_domains():
    no_domain = score_table([("fan", "00", "", 0, 0.1), ("fan", "00", "", 1, 0.9)])
    for protocol in ("dcase2021", "dcase2022"):
        with pytest.raises(AsdbenchError, match="needs domain 'source' or 'target'"):
            compute_metrics(no_domain, protocol)
        with pytest.raises(AsdbenchError, match="lacks column.*domain"):
            compute_metrics(no_domain.drop(columns=["domain"]), protocol)




def test_submission_layouts(tmp_path):
    df = _scores2022()
    names = sorted(p.name for p in write_submission(df, tmp_path / "a"))  # auto -> section
    assert names == ["anomaly_score_fan_section_00_test.csv",
                     "anomaly_score_fan_section_01_test.csv"]
    names = sorted(p.name for p in write_submission(df, tmp_path / "b", layout="dcase2021"))
    assert names == ["anomaly_score_fan_section_00_source_test.csv",
                     "anomaly_score_fan_section_00_target_test.csv",
                     "anomaly_score_fan_section_01_source_test.csv",
                     "anomaly_score_fan_section_01_target_test.csv"]
    src = (tmp_path / "b" / "anomaly_score_fan_section_00_source_test.csv").read_text()
    assert len(src.splitlines()) == 5  # 4 source normals + 1 source anomaly
    names = sorted(p.name for p in write_submission(df, tmp_path / "c", layout="dcase2022"))
    assert names == ["anomaly_score_fan_section_00_test.csv",
                     "anomaly_score_fan_section_01_test.csv"]
    assert not np.isnan(compute_metrics(df, "dcase2022")["average"]["official"])


# --- synthetic-shift --------------------------------------------------------------------------

TINY_SHIFT = {"dataset": "synthetic-shift", "data.types": "fan", "data.sections_per_type": 2,
              "data.source_train_per_section": 8, "data.target_train_per_section": 2,
              "data.test_normal_per_domain": 3, "data.test_anomaly_per_domain": 3,
              "data.clip_seconds": 1.0, "frontend": "logmel", "scorer": "knn-domain",
              "train.epochs": 1, "train.device": "cpu", "train.batch_size": 8,
              "train.lr": 1e-3, "train.ema_warmup": True}


def test_synthetic_shift_names_its_clips_as_dcase_2022_does(tmp_path):
    """The ``datasets`` plugin's shift set lists its clips from its plan; the names it writes
    parse here to what it listed."""
    ds = make("synthetic-shift", root=str(tmp_path), types="fan", sections_per_type=2,
              source_train_per_section=2, target_train_per_section=1, test_normal_per_domain=1,
              test_anomaly_per_domain=1, clip_seconds=0.25)
    ds.progress = False
    clips = ds.clips()
    assert len(clips) == 2 * (2 + 1 + 4)
    for c in clips:
        p = names.parse_clip_name(Path(c.path).name)
        assert p is not None and Path(c.path).is_file()
        assert (p.section, p.domain, p.split, p.label) == (c.machine_id, c.domain, c.split,
                                                           c.label)
        assert dict(c.attributes) == {"set": "synthetic-shift", "attributes": p.attributes}
    # the order a DCASE listing gives: per type, training clips then test clips, by name
    listed = [c for t in ("train", "test")
              for c in sorted((c for c in clips if c.split == t), key=lambda c: c.path.name)]
    assert clips == listed
    with_classes, fallbacks = attribute_classes(clips)
    assert fallbacks == 0 and [c.subclass for c in with_classes] == [
        c.subclass for c in make("synthetic-shift", root=str(tmp_path), types="fan",
                                 sections_per_type=2, source_train_per_section=2,
                                 target_train_per_section=1, test_normal_per_domain=1,
                                 test_anomaly_per_domain=1, clip_seconds=0.25,
                                 attribute_classes=True).clips()]


@pytest.fixture(scope="module")
def shift_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("shift-results")
    cfg = resolve(TINY_SHIFT, get_registry())
    return results, train_and_evaluate(cfg, results, progress=False)[1].path


def test_synthetic_shift_trains_and_scores_end_to_end(shift_run):
    _, run_dir = shift_run
    info = json.loads((run_dir / "config.json").read_text())
    assert info["classes"] == ["fan/00", "fan/01"] and info["protocols"] == ["dcase2022"]
    scores = pd.read_csv(run_dir / "scores.csv")
    assert len(scores) == 2 * 2 * 6 and np.isfinite(scores["score"]).all()
    assert Counter(zip(scores["domain"], scores["label"], strict=True)) == {
        ("source", 0): 6, ("source", 1): 6, ("target", 0): 6, ("target", 1): 6}
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["official_protocol"] == "dcase2022"
    p = m["protocols"]["dcase2022"]
    assert sorted(p["ids"]) == ["fan/00", "fan/01"] and not p["skipped"]
    values = [p["ids"][k][v] for k in p["ids"] for v in ("auc_source", "auc_target", "pauc")]
    assert 0.0 < p["average"]["official"] <= 1.0
    assert p["average"]["official"] == pytest.approx(len(values) / sum(1 / v for v in values))
    subs = sorted(q.name for q in (run_dir / "submission").iterdir())
    assert subs == [f"{kind}_fan_section_{s}_test.csv"
                    for kind in ("anomaly_score", "decision_result") for s in ("00", "01")]


def test_leaderboard_prints_synthetic_shift_under_dcase2022(shift_run):
    results, run_dir = shift_run
    official = json.loads((run_dir / "metrics.json").read_text())["protocols"]["dcase2022"]
    res = CliRunner().invoke(lb.leaderboard_command, ["--results", str(results), "--protocol",
                                                      "dcase2022", "--format", "markdown"])
    assert res.exit_code == 0, res.output
    assert "protocol: dcase2022" in res.output and "dataset: synthetic-shift" in res.output
    # the fan column: mean of AUC(source) and AUC(target) over the sections, in %
    assert f"{100 * official['types']['fan']['auc']:.2f}" in res.output
    res = CliRunner().invoke(lb.leaderboard_command, ["--results", str(results)])
    assert res.exit_code == 0 and "synthetic-shift" in res.output  # its official protocol


# --- the all-years matrix -------------------------------------------------------------------


def test_all_years_matrix_resolves_every_cell_without_data():
    config = load_matrix(REPO / "configs" / "dcase-all-years.toml")
    cells = expand(config)
    assert len(cells) == 4 * 5 * 3
    registry = get_registry()
    resolved = [resolve(c, registry) for c in cells]
    assert {c["dataset"] for c in resolved} == {f"dcase{y}" for y in range(2021, 2026)}
    assert {(c["method"], c["frontend"]) for c in resolved} == {
        ("os-scl", "logmel"), ("os-scl", "tfstgram"), ("arcface", "stgram"),
        ("noisy-arcmix", "tastgram")}
    # both test sets, each scored apart (the official score is sets.eval's), authors' recipes
    assert all(c["data.test"] == "all" and c["train.epochs"] == 300 for c in resolved)
    assert {c["recipe"] for c in resolved} == {"authors"}
    stgram = [c for c in resolved if c["method"] == "arcface"]
    assert {(c["frontend.mel_scale"], c["frontend.n_fft"]) for c in stgram} == {("htk", 1024)}
