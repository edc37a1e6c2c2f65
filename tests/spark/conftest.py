from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .cluster import JVM_OPTS, SparkCluster

pytest.importorskip("pyspark")


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    """A standalone master and two one-core workers on 127.0.0.1, for the whole session."""
    cluster = SparkCluster(Path(tmp_path_factory.mktemp("spark_cluster"))).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def spark(spark_cluster: SparkCluster) -> Iterator[Any]:
    """A SparkSession whose executors run on the cluster's workers (one core each)."""
    from mlwarden.store.spark_session import spark_session

    session = spark_session(
        spark_cluster.url,
        app_name="mlwarden-tests",
        executor_memory="512m",
        conf={
            "spark.driver.memory": "512m",
            "spark.executor.cores": "1",
            "spark.cores.max": "2",
            "spark.sql.shuffle.partitions": "2",
            "spark.driver.extraJavaOptions": JVM_OPTS,
            # small data on busy cores: no UI server, no generated code to compile per query
            # (interpreted is faster for a few thousand rows), no adaptive re-planning
            "spark.ui.enabled": "false",
            "spark.sql.codegen.wholeStage": "false",
            "spark.sql.adaptive.enabled": "false",
            "spark.executor.extraJavaOptions": JVM_OPTS,
        },
    )
    try:
        spark_cluster.wait_for_workers()
        yield session
    finally:
        session.stop()
