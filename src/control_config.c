/*
 * control_config.c — the control commands about the configuration:
 * config.keys (what a [server] section may set) and config.set (changing
 * settings in the file, then reloading) (docs/CONTROL.md).
 *
 * config.set owns one edit of the config file, on the main thread, start
 * to end within the command: the real file behind -c (realpath: a symlink
 * stays a symlink) is read, edited as text (config_edit.c, so comments and
 * layout stay), written to a temporary file in its directory, checked by
 * the loader `vsmtpd -n` uses under the real file's name, made durable
 * (fsync, the original's mode and, as root, owner), renamed over the file
 * (the commit point), the directory fsync'd, and the daemon reloaded. Until
 * the rename nothing is changed, and a reload that fails after it (the
 * file changed meanwhile by someone else) puts the old text back: on any
 * error the file and the running config stay as they were, and the error
 * holds every "file:line: message" the loader found.
 *
 * Not here: what a value may be (the loader), what the console lets whom
 * change (console.c checks roles before calling).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_edit.h"
#include "config_keys.h"
#include "control_int.h"
#include "lib/fdio.h"
#include "lib/xalloc.h"
#include "log.h"

int control_config_keys(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	*result = json_array();
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		if (k->scope != CONFIG_SCOPE_SERVER)
			continue;
		json_t *choices = json_null();
		if (k->choices != NULL) {
			choices = json_array();
			for (const struct config_choice *c = k->choices; c->name != NULL; c++)
				json_array_append_new(choices, json_string(c->name));
		}
		json_t *row = json_pack("{s:s, s:s, s:s, s:s?, s:o, s:s, s:b}",
					"name", k->name, "page", config_page_name(k->page),
					"type", config_type_name(k->type),
					"default", k->def_doc != NULL ? k->def_doc : k->def,
					"choices", choices, "doc", k->doc,
					"required", (k->flags & CONFIG_KEY_REQUIRED) != 0);
		json_array_append_new(*result, row);
	}
	return 0;
}

/* ---- config.set: the arguments -------------------------------------------- */

/*
 * The settings object as edits (keys borrowed from it), every [server]
 * key; NULL with one line per problem in *err. *n: how many.
 */
static struct config_edit *settings_edits(json_t *settings, size_t *n, struct buf *err)
{
	if (!json_is_object(settings) || json_object_size(settings) == 0) {
		buf_append_str(err, "argument 'settings' must be an object of at least one key: "
				    "{\"key\": \"value\", or null to remove the key}");
		return NULL;
	}
	struct config_edit *edits = xcalloc(json_object_size(settings), sizeof(*edits));
	size_t before = err->len;
	const char *key;
	json_t *v;
	*n = 0;
	json_object_foreach(settings, key, v) {
		const struct config_key *k = config_key_find(key);
		const char *sep = err->len > before ? "\n" : "";
		if (k == NULL)
			buf_printf(err, "%sunknown key '%s' (config.keys lists them)", sep, key);
		else if (k->scope != CONFIG_SCOPE_SERVER)
			buf_printf(err, "%s'%s' is a [global] setting: config.set changes [server NAME] "
				   "settings only", sep, key);
		else if (!json_is_string(v) && !json_is_null(v))
			buf_printf(err, "%ssettings.%s must be a string, or null to remove the key", sep, key);
		else if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v))
			buf_printf(err, "%sthe value of %s has a NUL byte", sep, key);
		else
			edits[(*n)++] = (struct config_edit){ .key = key, .value = json_string_value(v) };
	}
	if (err->len > before) {
		free(edits);
		return NULL;
	}
	return edits;
}

/* ---- config.set: the file -------------------------------------------------- */

/* "vsmtpd (user mail, uid 8)": who the daemon runs as, for permission errors. */
static void whoami(struct buf *out)
{
	uid_t uid = geteuid();
	const struct passwd *pw = getpwuid(uid);
	if (pw != NULL)
		buf_printf(out, "vsmtpd (user %s, uid %ld)", pw->pw_name, (long)uid);
	else
		buf_printf(out, "vsmtpd (uid %ld)", (long)uid);
}

static void no_permission(struct buf *err, const char *real, const char *what, const char *where, int e)
{
	buf_printf(err, "cannot change %s: ", real);
	whoami(err);
	buf_printf(err, " may not %s %s (%s); give it write access, or edit the file by hand and "
		   "reload", what, where, strerror(e));
}

/* The whole file into *text, its status into *st; -1 with err set. */
static int file_read(const char *real, struct buf *text, struct stat *st, struct buf *err)
{
	int fd = open(real, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, st) < 0) {
		buf_printf(err, "cannot read %s: %s", real, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char chunk[65536];
	ssize_t got;
	while ((got = read(fd, chunk, sizeof(chunk))) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			buf_printf(err, "cannot read %s: %s", real, strerror(errno));
			close(fd);
			return -1;
		}
		buf_append(text, chunk, (size_t)got);
	}
	close(fd);
	return 0;
}

/*
 * text in a new file beside real (".NAME.XXXXXX"), with real's mode (and
 * owner, as root), fsync'd: its path (caller frees and, unless it renames
 * it, unlinks), or NULL with err set.
 */
static char *temp_write(const char *real, const struct stat *st, const struct buf *text, struct buf *err)
{
	char *copy = xstrdup(real), *copy2 = xstrdup(real);
	const char *dir = dirname(copy), *base = basename(copy2);
	char *tmp = xasprintf("%s/.%s.XXXXXX", dir, base);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == EACCES || e == EPERM || e == EROFS)
			no_permission(err, real, "create files in", dir, e);
		else
			buf_printf(err, "cannot change %s: cannot create a file in %s: %s", real, dir, strerror(e));
		free(tmp);
		tmp = NULL;
		goto done;
	}
	bool ok = fd_write_all(fd, text->data != NULL ? text->data : "", text->len) == 0 &&
		  fchmod(fd, st->st_mode & 07777) == 0 &&
		  (geteuid() != 0 || fchown(fd, st->st_uid, st->st_gid) == 0) && fsync(fd) == 0;
	int e = errno;
	if (close(fd) < 0 && ok) {
		ok = false;
		e = errno;
	}
	if (!ok) {
		buf_printf(err, "cannot change %s: cannot write %s: %s", real, tmp, strerror(e));
		unlink(tmp);
		free(tmp);
		tmp = NULL;
	}
done:
	free(copy);
	free(copy2);
	return tmp;
}

/* Renames tmp over real and fsyncs their directory, so the new name survives a crash. */
static int temp_install(const char *tmp, const char *real, struct buf *err)
{
	if (rename(tmp, real) < 0) {
		buf_printf(err, "cannot change %s: rename from %s: %s", real, tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	char *copy = xstrdup(real);
	int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = dfd >= 0 && fsync(dfd) == 0 ? 0 : -1;
	if (rc < 0)
		buf_printf(err, "%s was changed, but its directory could not be synced: %s", real, strerror(errno));
	if (dfd >= 0)
		close(dfd);
	free(copy);
	return rc;
}

/* Puts text back as real after a failed reload; the failure is logged, the caller has its error. */
static void restore(const char *real, const struct stat *st, const struct buf *text)
{
	struct buf why = BUF_INIT;
	char *tmp = temp_write(real, st, text, &why);
	if (tmp == NULL || temp_install(tmp, real, &why) < 0)
		log_error("event=config_set_restore_failed config=%s reason=\"%s\"", real, buf_str(&why));
	free(tmp);
	buf_free(&why);
}

/* Appends the loader's lines without the last newline. */
static void errors_to(struct buf *err, const struct buf *errors)
{
	size_t len = errors->len;
	while (len > 0 && errors->data[len - 1] == '\n')
		len--;
	buf_append(err, errors->data != NULL ? errors->data : "", len);
}

/* ---- config.set ------------------------------------------------------------ */

/* The edited text into the file, checked; then the reload. 0 with *result, or -1 with err. */
static int config_commit(struct daemon *d, json_t *req, const char *real, const struct stat *st,
			 const struct buf *old, const struct buf *text, json_t **result, struct buf *err)
{
	bool same = old->len == text->len && memcmp(buf_str(old), buf_str(text), old->len) == 0;
	if (!same) {
		if (faccessat(AT_FDCWD, real, W_OK, AT_EACCESS) < 0 && (errno == EACCES || errno == EROFS)) {
			no_permission(err, real, "write", "it", errno);
			return -1;
		}
		char *tmp = temp_write(real, st, text, err);
		if (tmp == NULL)
			return -1;
		struct config *check = NULL;
		struct buf errors = BUF_INIT;
		int rc = config_load_as(tmp, real, &check, &errors);
		config_unref(check);
		if (rc < 0) {
			unlink(tmp);
			errors_to(err, &errors);
		}
		buf_free(&errors);
		if (rc == 0)
			rc = temp_install(tmp, real, err);
		free(tmp);
		if (rc < 0)
			return -1;
	}
	if (control_reload(d, req, result, err) < 0) {
		if (!same)
			restore(real, st, old);
		return -1;
	}
	return 0;
}

int control_config_set(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	int bad = 0;
	const char *name = control_arg(req, "server", true, err, &bad);
	if (name == NULL)
		return -1;
	if (config_server_find(d->cfg, name) == NULL) {
		buf_printf(err, "no virtual server named '%s'", name);
		return -1;
	}
	size_t n;
	struct config_edit *edits = settings_edits(json_object_get(req, "settings"), &n, err);
	if (edits == NULL)
		return -1;

	int rc = -1;
	struct buf old = BUF_INIT, text = BUF_INIT, section = BUF_INIT;
	struct stat st;
	char *real = realpath(d->config_path, NULL);
	if (real == NULL) {
		buf_printf(err, "cannot find the config file %s: %s", d->config_path, strerror(errno));
		goto done;
	}
	if (file_read(real, &old, &st, err) < 0)
		goto done;
	buf_printf(&section, "server %s", name);
	if (config_edit_apply(real, buf_str(&old), old.len, buf_str(&section), edits, n, &text, err) < 0)
		goto done;
	rc = config_commit(d, req, real, &st, &old, &text, result, err);
	if (rc == 0) {
		json_t *changed = json_array();
		struct buf keys = BUF_INIT;
		for (size_t i = 0; i < n; i++) {
			if (!edits[i].changed)
				continue;
			json_array_append_new(changed, json_string(edits[i].key));
			buf_printf(&keys, "%s%s", keys.len > 0 ? "," : "", edits[i].key);
		}
		json_object_set_new(*result, "changed", changed);
		log_info("event=config_set server=%s keys=%s config=%s", name, keys.len > 0 ? buf_str(&keys) : "-",
			 real);
		buf_free(&keys);
	}
done:
	free(real);
	free(edits);
	buf_free(&old);
	buf_free(&text);
	buf_free(&section);
	return rc;
}
