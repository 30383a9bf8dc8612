//! Host bindings generated from `plugins/wit` (world `porch:app/imports`).

wasmtime::component::bindgen!({
    path: "plugins/wit",
    world: "porch:app/imports",
    imports: {
        "porch:app/blobs.[constructor]writer": async | trappable,
        "porch:app/blobs.[method]writer.write": async | trappable,
        "porch:app/blobs.[method]writer.finish": async | trappable,
        default: async,
    },
    with: {
        "porch:app/blobs.writer": super::host::BlobWriter,
    },
});
