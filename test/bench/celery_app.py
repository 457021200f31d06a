"""test/bench/celery_app.py - the Celery 5 side of `make bench`.

As a Celery app (``celery -A celery_app worker``, test/bench on PYTHONPATH) it
defines one task, ``bench.noop``, returning None, configured as a durable
Celery deployment commonly is: late acks (ack after the result is stored),
JSON, the default prefetch multiplier, results in PostgreSQL through
SQLAlchemy (``db+postgresql://``). It consumes its own queue, QUEUE, never
celeriac's ``celery``.

As a script, ``python3 celery_app.py preload N`` creates Celery's result
tables and publishes N ``bench.noop`` messages with Celery's own send_task,
then checks that the queue holds exactly N.

Environment: AMQP_URL (the broker), CELERY_BENCH_RESULTS (the database URL,
``db+postgresql://...``), both set by test/bench/run.
"""
import os
import sys
import time

from celery import Celery

QUEUE = "celery_bench"

app = Celery("bench", broker=os.environ["AMQP_URL"],
             backend=os.environ["CELERY_BENCH_RESULTS"])
app.conf.update(
    task_default_queue=QUEUE,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    # Ack only after the task ran and its result was stored, as celeriac
    # acks after its commit.
    task_acks_late=True,
    # worker_prefetch_multiplier is left at Celery's default (4).
)


@app.task(name="bench.noop")
def noop():
    return None


def preload(n):
    t0 = time.monotonic()
    # Create celery_taskmeta now: the two pool children would otherwise both
    # create it at their first result, racing each other.
    app.backend.ResultSession().close()
    with app.connection_for_write() as conn:
        queue = app.amqp.queues[QUEUE](conn.default_channel)
        queue.declare()
        queue.purge()
        with app.producer_or_acquire() as producer:
            for _ in range(n):
                app.send_task("bench.noop", producer=producer)
        # Without publisher confirms basic.publish is asynchronous: wait until
        # RabbitMQ has every message in the queue before the worker starts.
        deadline = time.monotonic() + 60
        while True:
            _, count, _ = conn.default_channel.queue_declare(QUEUE, passive=True)
            if count == n or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    if count != n:
        sys.exit(f"celery_app: queue {QUEUE} holds {count} messages, not {n}")
    print(f"celery_preload_tasks={n}\ncelery_preload_seconds={time.monotonic() - t0:.3f}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "preload" or not sys.argv[2].isdigit():
        sys.exit("usage: celery_app.py preload N")
    preload(int(sys.argv[2]))
