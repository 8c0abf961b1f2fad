import os, sys, json
os.environ["TF_ENABLE_ONEDNN_OPTS"]="0"; os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"; os.environ["CUDA_VISIBLE_DEVICES"]="-1"
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1); tf.config.threading.set_inter_op_parallelism_threads(1)
import keras
(x,y),_ = keras.datasets.fashion_mnist.load_data(); x = x/255.0
tf.config.experimental.enable_op_determinism()
n = int(sys.argv[1]); units = [int(u) for u in sys.argv[2].split(",")]; seeds=[int(s) for s in sys.argv[3].split(",")]; base=int(sys.argv[4]) if len(sys.argv)>4 else 32
xt,yt,xv,yv = x[:n],y[:n],x[-5000:],y[-5000:]
def net(u): return keras.Sequential([keras.Input(shape=(28,28)), keras.layers.Flatten(), keras.layers.Dense(u,activation='relu'), keras.layers.Dense(u,activation='relu'), keras.layers.Dense(10,activation='softmax')])
for u in units:
  for s in seeds:
    keras.utils.set_random_seed(s)
    m = net(u); net(base); net(256)
    m.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'], steps_per_execution=50)
    h = m.fit(xt,yt,epochs=15,batch_size=32,validation_data=(xv,yv),validation_batch_size=1000,verbose=0).history
    vl=h['val_loss']; lm=min(range(15), key=lambda i: vl[i])
    print(f"units {u} seed {s}: val_acc {h['val_accuracy'][-1]:.4f} gap {h['accuracy'][-1]-h['val_accuracy'][-1]:+.4f} rise {vl[-1]-vl[lm]:.3f}", flush=True)
