# The lightning-ctl image: the control plane that deploy/helm runs, and the agents it starts as Pods
# (`--provider kubernetes --provider-option image=...`). Build from the repository's root:
#   docker build -t REGISTRY/lightning-ctl:0.1.0 .
# Works' own dependencies (torch, ...) go into an image built FROM this one, named by BuildConfig(image=...).
FROM python:3.11-slim
RUN useradd --create-home --uid 1000 lightning
WORKDIR /opt/lightning-ctl
COPY pyproject.toml README.md ./
COPY sdk sdk
COPY protos protos
COPY controlplane controlplane
COPY agent agent
RUN pip install --no-cache-dir '.[kubernetes]' && rm -rf /root/.cache
USER 1000
WORKDIR /home/lightning
ENV PYTHONUNBUFFERED=1
CMD ["lightning-ctl", "--help"]
