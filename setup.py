"""Install autola_mm."""
import os
import re
from glob import glob

from setuptools import find_packages, setup

OPS_CSRC = 'autola_mm/ops/csrc'
# GPU architectures of the CUDA build where torch does not say which it was
# built for (those of torch's CUDA 13 builds).
FALLBACK_CUDA_ARCHS = ['7.5', '8.0', '8.6', '9.0', '10.0', '12.0']


def read_requirements(path):
    """Requirement lines of ``path``, without comments and ``-r`` includes."""
    with open(path) as f:
        return [
            line.strip() for line in f
            if line.strip() and not line.startswith(('#', '-r'))
        ]


def get_version():
    namespace = {}
    with open('autola_mm/version.py') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def default_cuda_arch_list():
    """TORCH_CUDA_ARCH_LIST of the CUDA build when the user sets none.

    The GPU architectures the installed torch was built for (its ``sm_XY``
    arch flags, readable without a GPU; FALLBACK_CUDA_ARCHS if it lists
    none), plus PTX of the newest, which the driver compiles for later GPUs.

    Returns:
        str: e.g. ``'7.5;8.0;8.6;9.0;10.0;12.0+PTX'``.
    """
    import torch
    flags = getattr(torch._C, '_cuda_getArchFlags', lambda: None)() or ''
    archs = sorted({int(arch) for arch in re.findall(r'\bsm_(\d+)\b', flags)})
    names = [f'{arch // 10}.{arch % 10}' for arch in archs] or FALLBACK_CUDA_ARCHS
    return ';'.join(names) + '+PTX'


def make_ops_extensions():
    """The compiled attention core ``autola_mm.ops._ext`` and its build command.

    CPU kernels by default, CUDA kernels too when CUDA is available or
    ``FORCE_CUDA=1``, no extension with ``AUTOLA_WITH_OPS=0`` (autola_mm then
    runs its pure PyTorch reference path). The CUDA kernels are compiled for
    the GPU architectures of TORCH_CUDA_ARCH_LIST, by default those of the
    installed torch (``default_cuda_arch_list``). The GPU kernels are CUDA
    only: with a ROCm build of torch only the CPU kernels are built (GPU
    tensors take the reference path), and ``FORCE_CUDA=1`` is an error.

    Returns:
        tuple[list, dict]: ``ext_modules`` and ``cmdclass`` for ``setup``.
    """
    if os.getenv('AUTOLA_WITH_OPS', '1') == '0':
        return [], {}
    import torch
    from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

    force_cuda = os.getenv('FORCE_CUDA', '0') == '1'
    rocm = getattr(torch.version, 'hip', None)
    if rocm:
        if force_cuda:
            raise SystemExit(f'FORCE_CUDA=1, but this torch is a ROCm build (HIP {rocm}) and '
                             'the GPU kernels of autola_mm are CUDA only: unset FORCE_CUDA to '
                             'build the CPU kernels (on ROCm GPUs the modules run the PyTorch '
                             'reference path)')
        print(f'autola_mm: torch is a ROCm build (HIP {rocm}); building the CPU kernels only, '
              'GPU tensors will take the PyTorch reference path')
    with_cuda = not rocm and (force_cuda or torch.cuda.is_available())
    sources = sorted(glob(f'{OPS_CSRC}/pytorch/*.cpp') + glob(f'{OPS_CSRC}/pytorch/cpu/*.cpp'))
    headers = sorted(glob(f'{OPS_CSRC}/**/*.h', recursive=True) +
                     glob(f'{OPS_CSRC}/**/*.cuh', recursive=True))
    cxx_flags = ['-O3', '-std=c++20', '-fopenmp', '-fno-trapping-math']
    if with_cuda:
        nvcc_flags = ['-O3', '-std=c++20']
        # torch turns TORCH_CUDA_ARCH_LIST into nvcc's -gencode flags; unset,
        # it would take the architectures of the visible GPUs (none on a
        # build machine).
        if not os.getenv('TORCH_CUDA_ARCH_LIST'):
            os.environ['TORCH_CUDA_ARCH_LIST'] = default_cuda_arch_list()
        extension = CUDAExtension(
            'autola_mm.ops._ext',
            sources + sorted(glob(f'{OPS_CSRC}/pytorch/cuda/*.cu')),
            depends=headers,
            define_macros=[('AUTOLA_MM_WITH_CUDA', None)],
            extra_compile_args={'cxx': cxx_flags, 'nvcc': nvcc_flags},
            extra_link_args=['-fopenmp'])
    else:
        extension = CppExtension(
            'autola_mm.ops._ext',
            sources,
            depends=headers,
            extra_compile_args={'cxx': cxx_flags},
            extra_link_args=['-fopenmp'])

    class BuildOps(BuildExtension):
        """torch's BuildExtension (ninja); an editable install keeps its objects.

        ``pip install -e .`` builds in a fresh temporary directory each time;
        a fixed one under ``build/`` lets ninja recompile only changed sources.
        """

        def finalize_options(self):
            super().finalize_options()
            if self.editable_mode:
                variant = 'cuda' if with_cuda else 'cpu'
                self.build_temp = os.path.join(
                    os.path.dirname(os.path.abspath(__file__)), 'build', f'editable-{variant}')

    return [extension], {'build_ext': BuildOps}


ext_modules, cmdclass = make_ops_extensions()

setup(
    name='autola_mm',
    version=get_version(),
    description='Auto Learning Attention (HOGA, SE, CBAM and the AutoLA '
    'search) for MMDetection, MMPose and MMPretrain',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    python_requires='>=3.8',
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require={
        'mim': read_requirements('requirements/mminstall.txt'),
        'tests': read_requirements('requirements/tests.txt'),
        'optional': read_requirements('requirements/optional.txt'),
        'deploy': read_requirements('requirements/deploy.txt'),
    },
    ext_modules=ext_modules,
    cmdclass=cmdclass,
    zip_safe=False)
