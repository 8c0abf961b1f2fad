from otter.test_files import test_case

OK_FORMAT = False

name = "q2b_val_accuracy"
points = 2

@test_case(points=0, hidden=False)
def test_val_accuracy_form(val_acc_bigger):
    from kit_checks import check_form_accuracy
    check_form_accuracy(val_acc_bigger, 'val_acc_bigger')

