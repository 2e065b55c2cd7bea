{
  "targets": [
    {
      "target_name": "ocserv_native",
      "sources": [
        "src/native/addon.cc",
        "src/native/aead.cc",
        "src/native/caps_all_threads.cc",
        "src/native/crypt.cc",
        "src/native/cstp_reader.cc",
        "src/native/errors.cc",
        "src/native/fd_util.cc",
        "src/native/fd_move.cc",
        "src/native/fd_watcher.cc",
        "src/native/hmac.cc",
        "src/native/icmp_echo.cc",
        "src/native/netns.cc",
        "src/native/packet_io.cc",
        "src/native/poll_handle.cc",
        "src/native/privs.cc",
        "src/native/seccomp.cc",
        "src/native/seqpacket.cc",
        "src/native/sign.cc",
        "src/native/sockaddr_text.cc",
        "src/native/sockopt.cc",
        "src/native/systemd.cc",
        "src/native/tcp_accept.cc",
        "src/native/tun.cc",
        "src/native/tun_offload.cc",
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
      "cflags_cc": ["-std=gnu++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "libraries": ["-lcrypt"]
    },
    {
      # OpenSSL engine for key isolation (src/native/engine/keyfwd.h): loaded by id from
      # OPENSSL_ENGINES as <id>.so, and not linked to libcrypto, so it binds to node's.
      "target_name": "ocserv_keyfwd",
      "product_prefix": "",
      "target_conditions": [["_type=='loadable_module'", {"product_extension": "so"}]],
      "sources": [
        "src/native/engine/keyfwd_engine.c",
        "src/native/engine/keyfwd_wire.c"
      ],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2", "-fvisibility=hidden"]
    },
    {
      # sec-mod runs each PAM login in this short-lived process so a hung module can be
      # killed (src/native/pam/ocserv_pam_helper.c, docs/PAM.md).
      "target_name": "ocserv_pam_helper",
      "type": "executable",
      "sources": ["src/native/pam/ocserv_pam_helper.c"],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "libraries": ["-lpam"]
    }
  ]
}
