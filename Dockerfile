# Builds the goalpost binary and runs it on a slim Debian image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin goalpost

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/goalpost /usr/local/bin/goalpost
USER nobody
EXPOSE 50051
# Inside a container the service must listen beyond loopback to be reachable.
ENV GOALPOST_LISTEN=0.0.0.0:50051
ENTRYPOINT ["goalpost"]
CMD ["serve"]
