# The GPU-worker silo: the self-contained .NET app (scripts/publish-silo.sh), a CUDA libtorch from PyTorch's wheel
# (TorchSharp loads it through LD_LIBRARY_PATH, as .gpu/run.sh does on the GPU machine) and the native decode library
# (native/build.sh against that libtorch). No SDK and no compiler in the final image; runs as uid 10001.
#   docker build -f docker/silo.Dockerfile -t REGISTRY/alisa/silo:TAG .
#   --build-arg CUDA_VERSION=12.8.1 TORCH_VERSION=2.10.0 TORCH_INDEX_URL=<a PyTorch wheel index for another CUDA>
#   --build-arg CUDA_ARCHS="80 90"   (GPU architectures of the native kernels; 90 = H100/H200)
#   --build-arg MODEL=models/tiny-llama   (baked in at /opt/alisa/models/model; the chart's model.source=image)
ARG CUDA_VERSION=12.8.1
ARG UBUNTU=ubuntu24.04
ARG DOTNET_SDK=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_SDK} AS publish
WORKDIR /src
COPY . .
RUN bash scripts/publish-silo.sh /out/silo

FROM nvidia/cuda:${CUDA_VERSION}-devel-${UBUNTU} AS native
ARG TORCH_VERSION=2.10.0
ARG TORCH_INDEX_URL=""
ARG CUDA_ARCHS="90"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv g++ \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==${TORCH_VERSION}"
ENV PATH=/opt/venv/bin:$PATH
# the wheel's CUDA and the toolkit the kernels are compiled with must be the same major version
RUN torch_cuda=$(python3 -c 'import torch; print(torch.version.cuda or "")') \
 && nvcc_cuda=$(nvcc --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p') \
 && if [ "${torch_cuda%%.*}" != "${nvcc_cuda%%.*}" ]; then \
      echo "torch ${TORCH_VERSION} is built for CUDA '${torch_cuda}', this base image has CUDA ${nvcc_cuda}: set CUDA_VERSION or TORCH_INDEX_URL to match" >&2; exit 1; \
    fi
WORKDIR /src
COPY native/ native/
RUN CUDA_ARCHS="${CUDA_ARCHS}" bash native/build.sh
# the libraries the silo loads, in the wheel's layout: torch/lib finds the CUDA libraries of the nvidia-* wheels
# through its RPATH ($ORIGIN/../../nvidia/...)
RUN site=$(python3 -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))') \
 && mkdir -p /opt/libtorch/torch \
 && cp -a "$site/torch/lib" /opt/libtorch/torch/lib \
 && cp -a "$site/nvidia" /opt/libtorch/nvidia \
 && rm -f /opt/libtorch/torch/lib/libtorch_python.so

FROM nvidia/cuda:${CUDA_VERSION}-base-${UBUNTU}
ARG MODEL=models/tiny-llama
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libstdc++6 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 alisa \
 && useradd --system --uid 10001 --gid alisa --no-create-home --shell /usr/sbin/nologin alisa
COPY --from=native /opt/libtorch /opt/libtorch
COPY --from=native /src/native/build/libalisa_native.so /opt/alisa/native/libalisa_native.so
COPY --from=publish /out/silo /opt/alisa/silo
COPY ${MODEL} /opt/alisa/models/model
ENV LD_LIBRARY_PATH=/opt/libtorch/torch/lib \
    ALISA_NATIVE_LIB=/opt/alisa/native/libalisa_native.so \
    DOTNET_gcServer=1 \
    HOME=/tmp \
    Worker__Model=/opt/alisa/models/model \
    Silo__HttpPort=8081
WORKDIR /opt/alisa/silo
USER 10001:10001
EXPOSE 11111 30000 8081
ENTRYPOINT ["/opt/alisa/silo/AlisaCluster.Silo"]
