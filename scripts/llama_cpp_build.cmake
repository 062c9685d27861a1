# Read by CMake right after llama.cpp's own project() call (CMAKE_PROJECT_llama.cpp_INCLUDE, set
# in the Makefile). llama-cpp-python forces LLAMA_BUILD_COMMON on, which compiles and installs
# llama.cpp's "common" library (argument parsing, chat templates, JSON schemas: a third of the
# build) that the Python server never loads. Switching it off here, after that FORCE and before
# llama.cpp reads the option, leaves libllama and the ggml libraries: all the server needs.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama: build common utils library" FORCE)

# ggml builds for the CPU it is built on (-march=native). Where that CPU has AMX (Intel Xeon 4th
# generation and later), ggml's AMX kernels are compiled in, and the server dies on its first
# reply: SIGILL at a tilezero in ggml::cpu::amx::extra_buffer_type::supports_op (llama-cpp-python
# 0.3.36 on a 2-core VM that has AMX and grants its tile state). These flags come before ggml's
# -march=native on each command line, and GCC and Clang let an explicit -mno-* stand whatever
# order -march comes in: AVX-512 and VNNI stay, only AMX goes. GGML_AMX_* are the same switches
# for builds without GGML_NATIVE.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$" AND NOT MSVC)
    include(CheckCCompilerFlag)
    check_c_compiler_flag("-mno-amx-int8" LLAMA_CAN_DISABLE_AMX)
    if(LLAMA_CAN_DISABLE_AMX)
        add_compile_options(-mno-amx-tile -mno-amx-int8 -mno-amx-bf16)
    endif()
endif()
set(GGML_AMX_TILE OFF CACHE BOOL "ggml: enable AMX-TILE" FORCE)
set(GGML_AMX_INT8 OFF CACHE BOOL "ggml: enable AMX-INT8" FORCE)
set(GGML_AMX_BF16 OFF CACHE BOOL "ggml: enable AMX-BF16" FORCE)
