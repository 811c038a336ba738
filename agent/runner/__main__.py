"""``python -m lightning_ctl.agent.runner SOCKET WORK_NAME ATTEMPT APP_PATH``: the entry point of a work process."""

import sys

from lightning_ctl.agent.runner.work_process import run

if __name__ == "__main__":
    socket_path, work_name, attempt, app_path = sys.argv[1:5]
    run(socket_path, work_name, int(attempt), app_path)
