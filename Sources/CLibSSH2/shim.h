#ifndef DEVICEBACKUP_CLIBSSH2_SHIM_H
#define DEVICEBACKUP_CLIBSSH2_SHIM_H
#include <libssh2.h>
#ifdef __linux__
/* The reactor's epoll and eventfd calls (Swift's Glibc module does not export these headers). */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

/* Names the calling thread (visible in /proc and debuggers). */
static inline void devicebackup_set_thread_name(const char *name) {
    (void)prctl(PR_SET_NAME, name, 0, 0, 0);
}
#endif

/*
 * Small shims for libssh2's function-like macros, which Swift cannot import. Every length passed in is
 * a byte count (Swift passes UTF-8 byte counts).
 */

/* libssh2_channel_open_session(): a "session" channel with the default window and packet sizes. */
static inline LIBSSH2_CHANNEL *devicebackup_channel_open_session(LIBSSH2_SESSION *session) {
    return libssh2_channel_open_ex(session, "session", sizeof("session") - 1, LIBSSH2_CHANNEL_WINDOW_DEFAULT,
                                   LIBSSH2_CHANNEL_PACKET_DEFAULT, NULL, 0);
}

/* libssh2_channel_exec(): starts `command` (of `length` bytes) on the channel. */
static inline int devicebackup_channel_exec(LIBSSH2_CHANNEL *channel, const char *command, unsigned int length) {
    return libssh2_channel_process_startup(channel, "exec", sizeof("exec") - 1, command, length);
}

/* libssh2_channel_shell(): starts the user's shell (or the server's forced command). */
static inline int devicebackup_channel_shell(LIBSSH2_CHANNEL *channel) {
    return libssh2_channel_process_startup(channel, "shell", sizeof("shell") - 1, NULL, 0);
}

/* libssh2_channel_request_pty_size_ex() with a terminal type and no modes. */
static inline int devicebackup_channel_request_pty(LIBSSH2_CHANNEL *channel, const char *term, unsigned int term_length,
                                                   int columns, int rows) {
    return libssh2_channel_request_pty_ex(channel, term, term_length, NULL, 0, columns, rows, 0, 0);
}

/* libssh2_session_disconnect(): an orderly "by application" disconnect. */
static inline int devicebackup_session_disconnect(LIBSSH2_SESSION *session, const char *description) {
    return libssh2_session_disconnect_ex(session, SSH_DISCONNECT_BY_APPLICATION, description, "");
}

#endif
