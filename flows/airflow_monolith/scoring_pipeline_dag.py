"""The ORIGINAL monolith: one Airflow DAG, `daily_customer_scoring`, calling three teams' services.

Read, never run. Airflow is not a dependency of this project; this file is the "before" of
docs/migration.md and is never imported (pytest collects only tests/). It is valid Python for
Airflow 2.4+ and Airflow 3 with the Amazon and HTTP providers.

Every step's callable has the name and the parameters of the domain flow that replaced it, and
every templated `op_kwargs` entry has its twin in a subscription's `parameters` in
deployments/<domain>.yaml, so the two read line against line:

    task here                  flow now (flows/)              subscription now (deployments/)
    wait_for_vendor_file       -                              ingestion.yaml: vendor.file-delivered
    read_vendor_delivery       (the listener parses the body) -
    land_raw_data              ingestion/land.py              ingestion.yaml `parameters`
    build_customer_master      customer_master/build.py       customer-master.yaml `parameters`
    score_customers            scoring/score.py               scoring.yaml `parameters`
    write_risk_report          reporting/report.py            reporting.yaml `parameters`
    has_on_call (short circ.)  -                              notifications.yaml `filter: region`
    notify_on_call             notifications/notify.py        notifications.yaml `parameters`
    XCom between tasks         the event's `data` (what a `@publishes` flow returns)
    retries, page_everyone     Prefect retries + SQS redrive/DLQ; a listener and pool per domain
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.amazon.aws.sensors.sqs import SqsSensor
from airflow.providers.http.hooks.http import HttpHook

try:  # Airflow 3
    from airflow.providers.standard.operators.python import PythonOperator, ShortCircuitOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.4+
    from airflow import DAG
    from airflow.operators.python import PythonOperator, ShortCircuitOperator

# The vendor's drop system sends one message per delivered extract to this queue:
# {"snapshot_date": "2026-11-24", "region": "north", "rows": 3000}  (= vendor.file-delivered data)
VENDOR_QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/vendor-file-delivered"
ON_CALL_REGIONS = ["north", "south"]  # only these regions have an on-call rota


def _post(http_conn_id: str, endpoint: str, payload: dict[str, Any]) -> Any:
    """POST JSON to a service (an Airflow HTTP connection per team); raises on a 4xx/5xx."""
    hook = HttpHook(method="POST", http_conn_id=http_conn_id)
    return hook.run(
        endpoint, data=json.dumps(payload), headers={"Content-Type": "application/json"}
    )


def page_everyone(context: dict[str, Any]) -> None:
    """on_failure_callback of every task: whichever team's step failed, one rota is paged."""
    ti = context["task_instance"]
    _post(
        "pager",
        "/v1/incidents",
        {"summary": f"daily_customer_scoring: {ti.task_id} failed", "dag_run": ti.run_id},
    )


# -- the steps: same names and parameters as the flows in flows/ ----------------------------------


def read_vendor_delivery(ti: Any) -> dict[str, Any]:
    """The vendor's message, from the sensor's XCom (now: the listener parses the SQS body)."""
    messages = ti.xcom_pull(task_ids="wait_for_vendor_file", key="messages")
    return dict(json.loads(messages[0]["Body"]))


def land_raw_data(snapshot_date: str, region: str = "north", rows: int = 3000) -> dict[str, Any]:
    """Ingestion team's service: land one region's raw extract for a day.

    Returns (XCom) what flows/ingestion/land.py now publishes as `ingestion.completed` data:
    batch_id, snapshot_date, region, row_count, raw_path."""
    payload = {"snapshot_date": snapshot_date, "region": region, "rows": rows}
    return dict(_post("ingestion_service", "/v1/batches", payload).json())


def build_customer_master(
    batch_id: str, snapshot_date: str, region: str, raw_path: str, expected_rows: int
) -> dict[str, Any]:
    """Customer-master team's service: deduplicate and normalise the batch's customers.

    Returns (XCom) what flows/customer_master/build.py now publishes as
    `customer-master.completed` data: batch_id, snapshot_date, region, master_path,
    customer_count, duplicates_removed."""
    payload = {
        "batch_id": batch_id,
        "snapshot_date": snapshot_date,
        "region": region,
        "raw_path": raw_path,
        "expected_rows": expected_rows,
    }
    return dict(_post("customer_master_service", "/v1/masters", payload).json())


def score_customers(
    batch_id: str,
    snapshot_date: str,
    region: str,
    master_path: str,
    model_version: str = "v1",
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Scoring team's service: score every customer; count the high-risk ones.

    Returns (XCom) what flows/scoring/score.py now publishes as `scoring.completed` data:
    batch_id, snapshot_date, region, scores_path, scored, high_risk, threshold, model_version."""
    payload = {
        "batch_id": batch_id,
        "snapshot_date": snapshot_date,
        "region": region,
        "master_path": master_path,
        "model_version": model_version,
        "threshold": threshold,
    }
    return dict(_post("scoring_service", "/v1/scores", payload).json())


def write_risk_report(
    batch_id: str, snapshot_date: str, region: str, scores_path: str, high_risk: int
) -> str:
    """The daily risk report of a region (now: flows/reporting/report.py)."""
    payload = {
        "batch_id": batch_id,
        "snapshot_date": snapshot_date,
        "region": region,
        "scores_path": scores_path,
        "high_risk": high_risk,
    }
    return str(_post("reporting_service", "/v1/reports", payload).json()["report_path"])


def has_on_call(region: str) -> bool:
    """Short-circuit: only regions with an on-call rota (now: a subscription's data filter)."""
    return region in ON_CALL_REGIONS


def notify_on_call(
    region: str, snapshot_date: str, high_risk: int, scored: int, channel: str = "#risk"
) -> str:
    """Tell the region's on-call (now: flows/notifications/notify.py)."""
    share = high_risk / scored if scored else 0.0
    text = f"{region} {snapshot_date}: {high_risk} of {scored} customers high risk ({share:.1%})"
    _post("chat_webhook", "", {"channel": channel, "text": text})
    return channel


# -- the DAG: one schedule, one scheduler, one failure pages everyone -----------------------------

with DAG(
    dag_id="daily_customer_scoring",
    description="vendor file -> raw -> customer master -> scores -> report (+ on-call north/south)",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    # Templates render to strings (expected_rows arrives as "3000"): the services coerce.
    # render_template_as_native_obj=True would keep types, but it also literal_evals a
    # `{{ ... | tojson }}` message back into a dict (see docs/migration.md, step 1).
    default_args={
        "owner": "data-platform",
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        "on_failure_callback": page_everyone,
    },
    tags=["monolith", "scoring"],
) as dag:
    # -> deployments/ingestion.yaml: `subscribes: - event: vendor.file-delivered`
    wait_for_vendor_file = SqsSensor(
        task_id="wait_for_vendor_file",
        sqs_queue=VENDOR_QUEUE,
        max_messages=1,
        wait_time_seconds=20,
        mode="reschedule",
        poke_interval=60,
        timeout=6 * 3600,
    )

    read_delivery = PythonOperator(
        task_id="read_vendor_delivery", python_callable=read_vendor_delivery
    )

    # -> flows/ingestion/land.py::land_raw_data + deployments/ingestion.yaml `parameters`
    land = PythonOperator(
        task_id="land_raw_data",
        python_callable=land_raw_data,
        op_kwargs={
            "snapshot_date": "{{ ti.xcom_pull(task_ids='read_vendor_delivery')['snapshot_date'] }}",
            "region": "{{ ti.xcom_pull(task_ids='read_vendor_delivery')['region'] }}",
            "rows": "{{ ti.xcom_pull(task_ids='read_vendor_delivery')['rows'] | default(3000) }}",
        },
    )

    # -> flows/customer_master/build.py + deployments/customer-master.yaml `parameters`
    master = PythonOperator(
        task_id="build_customer_master",
        python_callable=build_customer_master,
        op_kwargs={
            "batch_id": "{{ ti.xcom_pull(task_ids='land_raw_data')['batch_id'] }}",
            "snapshot_date": "{{ ti.xcom_pull(task_ids='land_raw_data')['snapshot_date'] }}",
            "region": "{{ ti.xcom_pull(task_ids='land_raw_data')['region'] }}",
            "raw_path": "{{ ti.xcom_pull(task_ids='land_raw_data')['raw_path'] }}",
            "expected_rows": "{{ ti.xcom_pull(task_ids='land_raw_data')['row_count'] }}",
        },
    )

    # -> flows/scoring/score.py + deployments/scoring.yaml `parameters`
    score = PythonOperator(
        task_id="score_customers",
        python_callable=score_customers,
        op_kwargs={
            "batch_id": "{{ ti.xcom_pull(task_ids='build_customer_master')['batch_id'] }}",
            "snapshot_date": "{{ ti.xcom_pull(task_ids='build_customer_master')['snapshot_date'] }}",  # noqa: E501
            "region": "{{ ti.xcom_pull(task_ids='build_customer_master')['region'] }}",
            "master_path": "{{ ti.xcom_pull(task_ids='build_customer_master')['master_path'] }}",
            "model_version": "v2",
            "threshold": 0.5,
        },
    )

    # -> flows/reporting/report.py + deployments/reporting.yaml `parameters`
    report = PythonOperator(
        task_id="write_risk_report",
        python_callable=write_risk_report,
        op_kwargs={
            "batch_id": "{{ ti.xcom_pull(task_ids='score_customers')['batch_id'] }}",
            "snapshot_date": "{{ ti.xcom_pull(task_ids='score_customers')['snapshot_date'] }}",
            "region": "{{ ti.xcom_pull(task_ids='score_customers')['region'] }}",
            "scores_path": "{{ ti.xcom_pull(task_ids='score_customers')['scores_path'] }}",
            "high_risk": "{{ ti.xcom_pull(task_ids='score_customers')['high_risk'] }}",
        },
    )

    # -> deployments/notifications.yaml `filter: region: [north, south]`
    on_call_only = ShortCircuitOperator(
        task_id="has_on_call",
        python_callable=has_on_call,
        op_kwargs={"region": "{{ ti.xcom_pull(task_ids='score_customers')['region'] }}"},
    )

    # -> flows/notifications/notify.py + deployments/notifications.yaml `parameters`
    notify = PythonOperator(
        task_id="notify_on_call",
        python_callable=notify_on_call,
        op_kwargs={
            "region": "{{ ti.xcom_pull(task_ids='score_customers')['region'] }}",
            "snapshot_date": "{{ ti.xcom_pull(task_ids='score_customers')['snapshot_date'] }}",
            "high_risk": "{{ ti.xcom_pull(task_ids='score_customers')['high_risk'] }}",
            "scored": "{{ ti.xcom_pull(task_ids='score_customers')['scored'] }}",
            "channel": "#risk-{{ ti.xcom_pull(task_ids='score_customers')['region'] }}",
        },
    )

    wait_for_vendor_file >> read_delivery >> land >> master >> score
    score >> report
    score >> on_call_only >> notify
