/*
 * A PAM module for tests only (built by test/helpers/pam-fixture.ts with gcc): a second
 * factor after the password. It tells the user a code was sent (PAM_TEXT_INFO), asks
 * "Verification code:" (echo on) and accepts the code given as `code=...`.
 * With the argument `hang` it never returns, like a module waiting on a dead server.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *ph, int flags, int argc, const char **argv) {
  (void)flags;
  const char *code = NULL;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "hang") == 0) for (;;) pause();
    if (strncmp(argv[i], "code=", 5) == 0) code = argv[i] + 5;
  }
  if (!code) return PAM_AUTH_ERR;
  pam_info(ph, "A code was sent to <your> phone & mail.");
  char *answer = NULL;
  if (pam_prompt(ph, PAM_PROMPT_ECHO_ON, &answer, "Verification code:") != PAM_SUCCESS || !answer) return PAM_AUTH_ERR;
  int ok = strcmp(answer, code) == 0;
  free(answer);
  if (!ok) pam_error(ph, "That code is not right.");
  return ok ? PAM_SUCCESS : PAM_AUTH_ERR;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *ph, int flags, int argc, const char **argv) {
  (void)ph; (void)flags; (void)argc; (void)argv;
  return PAM_SUCCESS;
}
