from app.core.jobs import GENERATION_QUEUE, MAINTENANCE_QUEUE, task
from app.generation import positions, runner, services


@task(GENERATION_QUEUE, timeout="GENERATION_JOB_TIMEOUT_S", on_enqueue=positions.enter)
def run_generation(job_id: int) -> str:
    return runner.run(job_id)


@task(MAINTENANCE_QUEUE, timeout=120)
def sweep_generation_jobs() -> dict:
    return services.sweep()
