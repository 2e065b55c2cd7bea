{
  "targets": [
    {
      "target_name": "ocserv_native",
      "sources": [
        "src/native/addon.cc",
        "src/native/aead.cc",
        "src/native/errors.cc",
        "src/native/fd_util.cc",
        "src/native/fd_watcher.cc",
        "src/native/packet_io.cc",
        "src/native/poll_handle.cc",
        "src/native/seqpacket.cc",
        "src/native/tun.cc",
        "src/native/udp.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "_GNU_SOURCE"
      ],
      "cflags_cc": ["-std=gnu++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"]
    }
  ]
}
