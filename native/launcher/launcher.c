/*
 * osq-esf's launcher: the main executable of osq-esf.app, and so the one that holds
 * the com.apple.developer.endpoint-security.client entitlement.  Entitlements apply to
 * a process's main executable, never to a library, so Python must run inside this
 * process: the launcher loads the bundled Python's libpython and runs the equivalent
 * of `python -m osq_esf ARGS...` in place.  It never execs another binary.
 *
 * Layout (native/README.md, "The app bundle"):
 *   osq-esf.app/Contents/MacOS/osq-esf          this program
 *   osq-esf.app/Contents/Resources/python/      a relocatable CPython prefix:
 *       lib/libpython3.X.dylib, lib/python3.X/site-packages/osq_esf, bin/python3
 *
 * The prefix is found from the launcher's own path (_NSGetExecutablePath, then
 * realpath, so a symlink such as osquery's osq-esf.ext leads back into the bundle).
 * libpython is opened with dlopen by name pattern, so the launcher does not change
 * when the bundled Python's minor version does; it calls only Py_BytesMain, part of
 * the stable ABI since 3.8 (docs/decisions.md).
 *
 * An entitled root process must not take code from its caller's environment: every
 * PYTHON* variable is removed, then PYTHONHOME is set to the prefix, user site
 * packages and bytecode writing are turned off (the bundle is sealed by its
 * signature), and PYTHONSAFEPATH (3.11+) keeps the working directory off sys.path.
 * Only the osq_esf module runs: every argument goes to it, after "-m osq_esf", so
 * none reaches the interpreter; a leading "-m osq_esf" (how osq_esf re-runs itself
 * through sys.executable, which is this launcher) is dropped.
 *
 * The same file builds on Linux (/proc/self/exe, lib/libpython3.X.so*) so tests can
 * run it against the system's libpython.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __APPLE__
#include <mach-o/dyld.h>
#define LIBPYTHON_SUFFIX ".dylib"
#else
#define LIBPYTHON_SUFFIX ".so"
#endif

#define EX_SOFTWARE 70
#define EX_CONFIG 78
#define PYTHON_RELATIVE "/../Resources/python"

extern char **environ;

static int fail(int code, const char *what, const char *detail) {
    fprintf(stderr, "osq-esf launcher: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return code;
}

/* The launcher's own path, symlinks resolved. */
static int own_path(char out[PATH_MAX]) {
    char raw[PATH_MAX];
#ifdef __APPLE__
    uint32_t size = sizeof raw;
    if (_NSGetExecutablePath(raw, &size) != 0)
        return -1;
#else
    ssize_t n = readlink("/proc/self/exe", raw, sizeof raw - 1);
    if (n < 0)
        return -1;
    raw[n] = 0;
#endif
    return realpath(raw, out) ? 0 : -1;
}

/* lib/libpython3.<minor><suffix>[.N...] with the highest minor; 0 when found. */
static int find_libpython(const char *prefix, char out[PATH_MAX]) {
    char libdir[PATH_MAX];
    if (snprintf(libdir, sizeof libdir, "%s/lib", prefix) >= (int)sizeof libdir)
        return -1;
    DIR *d = opendir(libdir);
    if (d == NULL)
        return -1;
    long best = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (strncmp(name, "libpython3.", 11) != 0)
            continue;
        char *end;
        long minor = strtol(name + 11, &end, 10);
        if (end == name + 11 || strncmp(end, LIBPYTHON_SUFFIX, strlen(LIBPYTHON_SUFFIX)) != 0)
            continue; /* libpython3.dylib (the stable-ABI shim) or another file */
        if (minor > best &&
            snprintf(out, PATH_MAX, "%s/%s", libdir, name) < PATH_MAX) {
            best = minor;
        }
    }
    closedir(d);
    return best >= 0 ? 0 : -1;
}

/* Remove every PYTHON* variable: none of them may steer this process. */
static void scrub_environment(void) {
    for (;;) {
        char name[256];
        int found = 0;
        for (char **e = environ; e && *e; e++) {
            const char *eq = strchr(*e, '=');
            size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
            if (n >= 6 && strncmp(*e, "PYTHON", 6) == 0 && n < sizeof name) {
                memcpy(name, *e, n);
                name[n] = 0;
                found = 1;
                break;
            }
        }
        if (!found || unsetenv(name) != 0)
            return;
    }
}

typedef int (*bytes_main_fn)(int, char **);

int main(int argc, char **argv) {
    char self[PATH_MAX], prefix[PATH_MAX], dir[PATH_MAX], lib[PATH_MAX];
    if (own_path(self) != 0)
        return fail(EX_SOFTWARE, "cannot find its own executable path", strerror(errno));
    snprintf(dir, sizeof dir, "%s", self);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        return fail(EX_SOFTWARE, "unexpected executable path", self);
    *slash = 0;
    char wanted[PATH_MAX];
    if (snprintf(wanted, sizeof wanted, "%s%s", dir, PYTHON_RELATIVE) >= (int)sizeof wanted ||
        realpath(wanted, prefix) == NULL)
        return fail(EX_CONFIG, "no bundled Python at Contents/Resources/python next to", self);
    if (find_libpython(prefix, lib) != 0)
        return fail(EX_CONFIG, "no lib/libpython3.X" LIBPYTHON_SUFFIX " in the bundled Python", prefix);

    /* Arguments: [-m osq_esf] ARGS...  Everything else goes to osq_esf, after "-m osq_esf":
       nothing reaches the interpreter's own options. */
    int first = 1;
    if (argc >= 3 && strcmp(argv[1], "-m") == 0 && strcmp(argv[2], "osq_esf") == 0)
        first = 3;

    scrub_environment();
    if (setenv("PYTHONHOME", prefix, 1) != 0 || setenv("PYTHONNOUSERSITE", "1", 1) != 0 ||
        setenv("PYTHONDONTWRITEBYTECODE", "1", 1) != 0 || setenv("PYTHONSAFEPATH", "1", 1) != 0)
        return fail(EX_SOFTWARE, "cannot set the Python environment", strerror(errno));

    void *handle = dlopen(lib, RTLD_NOW | RTLD_GLOBAL);
    if (handle == NULL)
        return fail(EX_CONFIG, "cannot load libpython", dlerror());
    bytes_main_fn bytes_main = (bytes_main_fn)dlsym(handle, "Py_BytesMain");
    if (bytes_main == NULL)
        return fail(EX_CONFIG, "libpython has no Py_BytesMain (Python 3.8 or later is needed)", lib);

    /* argv[0] is this launcher, so sys.executable re-runs it (and keeps the entitlement). */
    char **args = calloc((size_t)(argc - first) + 4, sizeof *args);
    if (args == NULL)
        return fail(EX_SOFTWARE, "out of memory", NULL);
    int n = 0;
    args[n++] = self;
    args[n++] = "-m";
    args[n++] = "osq_esf";
    for (int i = first; i < argc; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    return bytes_main(n, args);
}
