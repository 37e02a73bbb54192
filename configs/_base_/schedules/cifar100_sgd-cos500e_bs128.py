# CIFAR-100 schedule of the AutoLA supplement: as CIFAR-10 (SGD, lr 0.1,
# momentum 0.9, weight decay 5e-4, 500 cosine epochs) but batch 128.
_base_ = './cifar10_sgd-cos500e_bs256.py'

# lr 0.1 goes with 128 images per step (4 GPUs x 32).
auto_scale_lr = dict(base_batch_size=128)
