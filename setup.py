"""Install autola_mm."""
from setuptools import find_packages, setup


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
    zip_safe=False)
