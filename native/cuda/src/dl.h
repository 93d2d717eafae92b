// Opening an NVIDIA library at run time (cuBLAS in builds that do not link it, NVRTC): the
// path the user named, else the first of the usual names that the loader finds.
#pragma once
#include <dlfcn.h>

#include <initializer_list>
#include <string>

namespace skp {

/** A handle to `path` or to the first of `names` that opens, else null; `tried` collects why each did not. */
inline void *openLibrary(const std::string &path, std::initializer_list<const char *> names, std::string &tried) {
  if (!path.empty()) {
    if (void *lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) return lib;
    tried += std::string(dlerror()) + "; ";
  }
  for (const char *name : names) {
    if (void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL)) return lib;
    tried += std::string(dlerror()) + "; ";
  }
  return nullptr;
}

/** Looks `name` up in `lib` into `slot`; a name not found is added to `missing`. */
template <typename F>
bool bindSymbol(void *lib, const char *name, F &slot, std::string &missing) {
  slot = reinterpret_cast<F>(dlsym(lib, name));
  if (!slot) missing += std::string(missing.empty() ? "" : ", ") + name;
  return slot != nullptr;
}

}  // namespace skp
