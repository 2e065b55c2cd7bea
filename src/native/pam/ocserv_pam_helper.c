/*
 * ocserv_pam_helper: one PAM login for sec-mod (src/secmod/auth/pam-helper.ts), then exit.
 *
 * Why a process and not a thread of sec-mod: a PAM module may block for good (a dead
 * LDAP server, a module waiting on a device), and a blocked thread cannot be stopped.
 * A process can: sec-mod kills this one (and its process group) when PAM takes too long
 * or the client walks away, and nothing else notices.
 *
 * Wire format, both directions: frames of one type byte, a 4-byte big-endian length and
 * that many bytes of payload, at most MAX_FRAME. Payloads never contain NUL (PAM strings
 * are C strings), so a frame that does is refused rather than silently cut short.
 *
 *   sec-mod -> helper: 's' service, 'u' user, 'h' remote host (in that order), then one
 *                      'A' answer per prompt.
 *   helper -> sec-mod: 'P' prompt, echo off   'E' prompt, echo on   (both wait for 'A')
 *                      'I' PAM_TEXT_INFO      'R' PAM_ERROR_MSG
 *                      on success: 'U' final PAM_USER, 'G' "gid:name" per group, 'K'
 *                      on failure: 'F' "<retry 0|1><stage>: <pam_strerror>"
 *
 * Exit status: 0 success, 1 PAM said no, 2 protocol or setup error.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <security/pam_appl.h>

#define MAX_FRAME 4096
/* A backstop only: sec-mod's own bounds end a login long before this. */
#define LIFETIME_SECONDS 900
/* getgrouplist() beyond this many groups is not a real account. */
#define MAX_GROUPS 65536

static int read_full(int fd, void *buf, size_t n) {
  char *p = buf;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static int write_full(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int send_frame(char type, const char *data, size_t len) {
  if (len > MAX_FRAME) len = MAX_FRAME; /* long PAM messages are cut, never refused */
  unsigned char head[5] = {(unsigned char)type, (unsigned char)(len >> 24), (unsigned char)(len >> 16),
                           (unsigned char)(len >> 8), (unsigned char)len};
  if (write_full(STDOUT_FILENO, head, sizeof head) < 0) return -1;
  return write_full(STDOUT_FILENO, data, len);
}

static int send_text(char type, const char *text) {
  return send_frame(type, text ? text : "", text ? strnlen(text, MAX_FRAME) : 0);
}

/* The next frame, which must be of type `want`, as a malloc'd C string; NULL on any error. */
static char *recv_frame(char want) {
  unsigned char head[5];
  if (read_full(STDIN_FILENO, head, sizeof head) < 0) return NULL;
  uint32_t len = ((uint32_t)head[1] << 24) | ((uint32_t)head[2] << 16) | ((uint32_t)head[3] << 8) | head[4];
  if (head[0] != (unsigned char)want || len > MAX_FRAME) return NULL;
  char *buf = malloc((size_t)len + 1);
  if (!buf) return NULL;
  if (read_full(STDIN_FILENO, buf, len) < 0 || memchr(buf, '\0', len) != NULL) {
    explicit_bzero(buf, (size_t)len + 1);
    free(buf);
    return NULL;
  }
  buf[len] = '\0';
  return buf;
}

static void drop_secret(char *s) {
  if (!s) return;
  explicit_bzero(s, strlen(s));
  free(s);
}

static void drop_responses(struct pam_response *r, int n) {
  for (int i = 0; i < n; i++) drop_secret(r[i].resp);
  free(r);
}

/* Every prompt goes to sec-mod, which shows it to the client as a form and sends back the answer. */
static int conversation(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
  (void)data;
  if (n <= 0 || n > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
  struct pam_response *r = calloc((size_t)n, sizeof *r);
  if (!r) return PAM_BUF_ERR;
  for (int i = 0; i < n; i++) {
    switch (msg[i]->msg_style) {
      case PAM_PROMPT_ECHO_OFF:
      case PAM_PROMPT_ECHO_ON:
        if (send_text(msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ? 'P' : 'E', msg[i]->msg) < 0) goto fail;
        r[i].resp = recv_frame('A');
        if (!r[i].resp) goto fail;
        break;
      case PAM_TEXT_INFO:
      case PAM_ERROR_MSG:
        if (send_text(msg[i]->msg_style == PAM_TEXT_INFO ? 'I' : 'R', msg[i]->msg) < 0) goto fail;
        break;
      default: /* binary prompts: nothing a VPN client could answer */
        goto fail;
    }
  }
  *resp = r;
  return PAM_SUCCESS;
fail:
  drop_responses(r, n);
  return PAM_CONV_ERR;
}

/* 0 sent, 1 the list could not be had, -1 sec-mod is not listening */
static int send_groups(const char *user) {
  struct passwd *pw = getpwnam(user);
  if (!pw) return 0; /* an account PAM knows but NSS does not: no groups */
  gid_t primary = pw->pw_gid;
  int cap = 64, n = -1;
  gid_t *gids = NULL;
  while (n < 0) {
    gid_t *grown = realloc(gids, (size_t)cap * sizeof *gids);
    if (!grown) break;
    gids = grown;
    int count = cap;
    if (getgrouplist(user, primary, gids, &count) >= 0) n = count;
    else if (count <= cap || count > MAX_GROUPS) break;
    else cap = count;
  }
  if (n < 0) {
    free(gids);
    return 1; /* no list is a failure, not "no groups" */
  }
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    struct group *gr = getgrgid(gids[i]);
    if (!gr || !gr->gr_name) continue;
    char line[MAX_FRAME];
    int len = snprintf(line, sizeof line, "%u:%s", (unsigned)gids[i], gr->gr_name);
    if (len > 0 && (size_t)len < sizeof line) rc = send_frame('G', line, (size_t)len);
  }
  free(gids);
  return rc;
}

static int fail(pam_handle_t *ph, int retry, const char *stage, int rc) {
  char line[512];
  int len = snprintf(line, sizeof line, "%d%s: %s", retry, stage, pam_strerror(ph, rc));
  send_frame('F', line, len > 0 ? ((size_t)len < sizeof line ? (size_t)len : sizeof line - 1) : 0);
  return 1;
}

/*
 * exec() as root hands a process its whole bounding set, which for a sec-mod restarted by
 * main is main's (CAP_NET_ADMIN, CAP_SETUID, ...), not the two sec-mod kept. PAM modules
 * get no more than sec-mod holds: its permitted set, read from /proc.
 */
static int clamp_caps_to(pid_t parent) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", (int)parent);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  char line[256];
  unsigned long long keep = 0;
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) found = sscanf(line, "CapPrm: %llx", &keep) == 1;
  fclose(f);
  if (!found) return -1;
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) != 0) return -1;
  for (int i = 0; i < 2; i++) {
    uint32_t k = (uint32_t)(keep >> (32 * i));
    data[i].permitted &= k;
    data[i].effective &= k;
    data[i].inheritable = 0;
  }
  return (int)syscall(SYS_capset, &hdr, data);
}

static int valid_service(const char *s) {
  /* the name picks a file in /etc/pam.d: no paths */
  return s[0] != '\0' && s[0] != '.' && strchr(s, '/') == NULL;
}

int main(void) {
  pid_t parent = getppid();
  /* sec-mod gone means nobody waits for this login */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) return 2;
  if (clamp_caps_to(parent) != 0) return 2;
  alarm(LIFETIME_SECONDS);

  char *service = recv_frame('s');
  char *user = recv_frame('u');
  char *rhost = recv_frame('h');
  if (!service || !user || !rhost || !valid_service(service) || user[0] == '\0') return 2;

  struct pam_conv conv = {conversation, NULL};
  pam_handle_t *ph = NULL;
  int rc = pam_start(service, user, &conv, &ph);
  if (rc != PAM_SUCCESS) return fail(ph, 0, "pam_start", rc) + 1;
  int status = 1;
  if ((rc = pam_set_item(ph, PAM_RHOST, rhost)) != PAM_SUCCESS) {
    fail(ph, 0, "pam_set_item", rc);
  } else if ((rc = pam_authenticate(ph, PAM_DISALLOW_NULL_AUTHTOK)) != PAM_SUCCESS) {
    int retry = rc == PAM_AUTH_ERR || rc == PAM_USER_UNKNOWN || rc == PAM_CRED_INSUFFICIENT;
    fail(ph, retry, "pam_authenticate", rc);
  } else if ((rc = pam_acct_mgmt(ph, PAM_DISALLOW_NULL_AUTHTOK)) != PAM_SUCCESS) {
    fail(ph, 0, "pam_acct_mgmt", rc);
  } else {
    /* a module may have mapped the name (pam_mapuser and the like): the final one counts */
    const void *item = NULL;
    const char *final = pam_get_item(ph, PAM_USER, &item) == PAM_SUCCESS && item ? item : user;
    int groups = send_text('U', final) == 0 ? send_groups(final) : -1;
    if (groups == 1) send_text('F', "0getgrouplist: cannot list the user's groups");
    else if (groups == 0 && send_frame('K', "", 0) == 0) status = 0;
  }
  pam_end(ph, rc);
  free(service);
  free(user);
  free(rhost);
  return status;
}
