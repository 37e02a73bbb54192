"""Install autola_mm."""
import os
from glob import glob

from setuptools import find_packages, setup

OPS_CSRC = 'autola_mm/ops/csrc'
# GPU architectures of the CUDA build unless TORCH_CUDA_ARCH_LIST names others.
CUDA_GENCODE = ['-gencode=arch=compute_80,code=sm_80', '-gencode=arch=compute_90,code=sm_90']


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


def make_ops_extensions():
    """The compiled attention core ``autola_mm.ops._ext`` and its build command.

    CPU kernels by default, CUDA kernels too when CUDA is available or
    ``FORCE_CUDA=1``, no extension with ``AUTOLA_WITH_OPS=0`` (autola_mm then
    runs its pure PyTorch reference path).

    Returns:
        tuple[list, dict]: ``ext_modules`` and ``cmdclass`` for ``setup``.
    """
    if os.getenv('AUTOLA_WITH_OPS', '1') == '0':
        return [], {}
    import torch
    from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

    with_cuda = os.getenv('FORCE_CUDA', '0') == '1' or torch.cuda.is_available()
    sources = sorted(glob(f'{OPS_CSRC}/pytorch/*.cpp') + glob(f'{OPS_CSRC}/pytorch/cpu/*.cpp'))
    headers = sorted(glob(f'{OPS_CSRC}/**/*.h', recursive=True) +
                     glob(f'{OPS_CSRC}/**/*.cuh', recursive=True))
    cxx_flags = ['-O3', '-std=c++20', '-fopenmp', '-fno-trapping-math']
    if with_cuda:
        nvcc_flags = ['-O3', '-std=c++20']
        if not os.getenv('TORCH_CUDA_ARCH_LIST'):
            nvcc_flags += CUDA_GENCODE
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
    },
    ext_modules=ext_modules,
    cmdclass=cmdclass,
    zip_safe=False)
