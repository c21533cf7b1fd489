# decilm: one static binary (no cgo) on a distroless image, run as a non-root user.
#   docker build -t decilm .
#   docker run --rm -p 8080:8080 -v $HOME/.cache/huggingface:/models decilm serve -m Deci/DeciLM-7B-instruct --host 0.0.0.0
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/decilm ./cmd/decilm

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/decilm /usr/local/bin/decilm
ENV HF_HOME=/models
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/decilm"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
