# Read by CMake right after llama.cpp's own project() call (CMAKE_PROJECT_llama.cpp_INCLUDE, set
# in the Makefile). llama-cpp-python forces LLAMA_BUILD_COMMON on, which compiles and installs
# llama.cpp's "common" library (argument parsing, chat templates, JSON schemas: a third of the
# build) that the Python server never loads. Switching it off here, after that FORCE and before
# llama.cpp reads the option, leaves libllama and the ggml libraries: all the server needs.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama: build common utils library" FORCE)
